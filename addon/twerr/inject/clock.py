"""The injector's clock, in one place, so that a test can move time for every part at once:
rule lifetimes, emulated windows and the resets forged 429s name."""

import time


def now() -> float:
    return time.time()
