import pytest

from twerr.relay import Pace


@pytest.mark.parametrize(
    "rate,interval,size",
    [(1, 1.0, 1), (5, 0.2, 1), (10, 0.1, 1), (19, 0.1, 2), (128, 0.1, 13), (1000, 0.1, 100)],
)
def test_the_pace_sends_about_rate_bytes_a_second(rate, interval, size):
    pace = Pace(rate)
    assert (pace.interval, pace.size) == (interval, size)
    pieces = pace.pieces(b"x" * 100)
    assert b"".join(pieces) == b"x" * 100
    seconds = len(pieces) * pace.interval
    assert 100 / rate * 0.9 <= seconds <= 100 / rate * 1.1 + pace.interval
