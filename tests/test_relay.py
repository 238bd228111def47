import asyncio
import logging

import pytest

from twerr.inject.relay import TOKEN_HEADER
from twerr.inject.relay import Pace
from twerr.inject.relay import Relay
from twerr.inject.relay import Target
from upstream import Upstream
from upstream import fixed


@pytest.mark.parametrize("rate", [1, 5, 10, 15, 19, 25, 35, 128, 1000])
def test_the_pace_sends_rate_bytes_a_second(rate):
    pace = Pace(rate)
    data = bytes(range(256)) * 40  # 10,240 bytes, in two calls as they come from the API
    pieces = pace.pieces(data[:3000]) + pace.pieces(data[3000:])
    assert b"".join(pieces) == data
    seconds = len(pieces) * pace.interval
    # at most a tick lost where one read of the API ends mid-tick
    assert len(data) / rate <= seconds <= len(data) / rate + 2 * pace.interval + 1e-9


async def relayed(upstream: Upstream, head: bytes) -> bytes:
    """The status line a client gets from the relay for `head`, a request head as mitmproxy
    sends it, with the upstream as the request's real destination; b"" for no answer."""
    relay = Relay()
    await relay.start()
    token = relay.expect(Target("http", "127.0.0.1", upstream.port, rate=1_000_000))
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        writer.write(head.replace(b"\r\n\r\n", f"\r\n{TOKEN_HEADER}: {token}\r\n\r\n".encode()))
        return await reader.readline()
    finally:
        writer.close()
        relay.stop()


def test_a_path_with_raw_non_ascii_bytes_goes_out_percent_encoded():
    answer = fixed(200, [], b"{}")
    routes = {"/2/users/by/username/jos%C3%A9": answer, "/1.1/x%FF%20y.json": answer}
    with Upstream(routes) as upstream:
        for path in ("/2/users/by/username/josé".encode(), b"/1.1/x\xff%20y.json?a=%C3%A9"):
            head = b"GET %s HTTP/1.1\r\nhost: api.twitter.com\r\n\r\n" % path
            assert asyncio.run(relayed(upstream, head)) == b"HTTP/1.1 200 OK\r\n"
    assert [head.split(b"\r\n")[0] for head in upstream.requests] == [
        b"GET /2/users/by/username/jos%C3%A9 HTTP/1.1",
        b"GET /1.1/x%FF%20y.json?a=%C3%A9 HTTP/1.1",  # what was already encoded stays as sent
    ]


def test_a_request_that_cannot_be_forwarded_is_said_without_secrets(caplog):
    head = (
        b"GET /2/tweets?oauth_token=SECRET HTTP/1.1\r\nhost: api.twitter.com\r\n"
        b"authorization: OAuth oauth_token=SECRET\rx\r\n\r\n"
    )
    with Upstream({}) as upstream, caplog.at_level(logging.WARNING, "twerr.relay"):
        assert asyncio.run(relayed(upstream, head)) == b""  # no answer: mitmproxy says 502
    assert upstream.requests == []
    assert [record.getMessage() for record in caplog.records] == [
        "twerr relay could not forward GET 127.0.0.1/2/tweets: "
        "the 'authorization' header cannot be sent as it is"
    ]
