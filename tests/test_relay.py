import pytest

from twerr.relay import Pace


@pytest.mark.parametrize("rate", [1, 5, 10, 15, 19, 25, 35, 128, 1000])
def test_the_pace_sends_rate_bytes_a_second(rate):
    pace = Pace(rate)
    data = bytes(range(256)) * 40  # 10,240 bytes, in two calls as they come from the API
    pieces = pace.pieces(data[:3000]) + pace.pieces(data[3000:])
    assert b"".join(pieces) == data
    seconds = len(pieces) * pace.interval
    # at most a tick lost where one read of the API ends mid-tick
    assert len(data) / rate <= seconds <= len(data) / rate + 2 * pace.interval + 1e-9
