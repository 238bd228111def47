"""The injector's clock, in one place, so that a test can move time for every part at once:
rule lifetimes, emulated windows and the resets forged 429s name.

`twerr_time_scale` makes emulated time run faster: a 15-minute window, a 24-hour cap and the
resets forged 429s name last `scale` times less real time, and every reset a client is told is
the real wall-clock time it comes at. Rule lifetimes (ttl) stay in real seconds.
"""

import time

_scale = 1.0


def now() -> float:
    return time.time()


def real_seconds(emulated: float) -> float:
    """How long an emulated span (a window, a cap) lasts in real time."""
    return emulated / _scale


def set_scale(scale: float) -> None:
    global _scale
    _scale = scale


def scale() -> float:
    return _scale
