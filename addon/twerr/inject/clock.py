"""The injector's clock, in one place, so that a test can move time for every part at once:
rule lifetimes, emulated windows and the resets forged 429s name.

`twerr_time_scale` makes emulated time run faster: a 15-minute window, a 24-hour cap and the
resets forged 429s name last `scale` times less real time, and every reset a client is told is
the real wall-clock time it comes at. The wallet's UTC days are days of the emulated clock,
which runs on from where it was when the scale changes. Rule lifetimes (ttl) stay real.
"""

import time

_scale = 1.0
_origin = (0.0, 0.0)  # (real, emulated) when the scale last changed


def now() -> float:
    return time.time()


def real_seconds(emulated: float) -> float:
    """How long an emulated span (a window, a cap) lasts in real time."""
    return emulated / _scale


def emulated(real: float) -> float:
    """The emulated clock's time at a real time."""
    real_then, emulated_then = _origin
    return emulated_then + (real - real_then) * _scale


def set_scale(scale: float) -> None:
    global _scale, _origin
    if scale != _scale:
        moment = now()
        _origin = (moment, emulated(moment))
        _scale = scale


def scale() -> float:
    return _scale


def reset() -> None:
    """Real time again, as at start-up (for tests)."""
    global _scale, _origin
    _scale, _origin = 1.0, (0.0, 0.0)
