"""Streaming endpoints are streamed to the client, not buffered; nothing else is."""

import asyncio
import re
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpResponseHook
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from twerr.addon import Twerr
from twerr.decode import decode
from twerr.scope import Scope
from twerr.streams import KEEP_LIMIT
from twerr.streams import Streams
from twerr.streams import Watch
from twerr.streams import is_stream_endpoint
from twerr.streams import seen


@pytest.mark.parametrize(
    "host,path,streamed",
    [
        ("stream.twitter.com", "/1.1/statuses/filter.json?track=x", True),
        ("stream.x.com", "/1.1/statuses/sample.json", True),
        ("userstream.twitter.com", "/1.1/user.json", True),
        ("api.twitter.com", "/2/tweets/search/stream", True),
        ("api.x.com", "/2/tweets/search/stream?tweet.fields=id", True),
        ("api.twitter.com", "/2/tweets/sample/stream", True),
        ("api.twitter.com", "/2/tweets/sample10/stream", True),
        ("api.twitter.com", "/2/tweets/firehose/stream", True),
        ("api.twitter.com", "/2/tweets/firehose/stream/lang/en", True),
        ("api.twitter.com", "/2/tweets/compliance/stream", True),
        ("api.twitter.com", "/2/likes/firehose/stream", True),
        ("api.twitter.com", "/2/tweets/search/stream/rules", False),
        ("api.twitter.com", "/2/tweets/search/stream/rules/counts", False),
        ("api.twitter.com", "/2/tweets/search/recent", False),
        ("api.twitter.com", "/1.1/statuses/update.json", False),
        ("api.twitter.com", "/2/streamers", False),
        ("upload.twitter.com", "/1.1/media/upload.json", False),
    ],
)
def test_stream_endpoints(host, path, streamed):
    assert is_stream_endpoint(host, path) is streamed


# what the endpoints' routes were matched with before: it backtracked quadratically
OLD_STREAM_ROUTE = re.compile(r"^/2/(?:[\w-]+/)+stream(?:/(?!rules(?:/|$))[\w-]+)*/?$")
route_parts = st.sampled_from(["/", "/2/", "stream", "rules", "tweets", "a-b", "é", "x.y", ""])


@settings(max_examples=3000, deadline=None)
@given(parts=st.lists(route_parts, max_size=10))
def test_stream_routes_are_the_ones_the_old_expression_matched(parts):
    route = "".join(parts)
    assert is_stream_endpoint("api.x.com", route) is bool(OLD_STREAM_ROUTE.match(route))


@pytest.mark.timeout(60)  # the old expression took minutes here
def test_a_long_path_of_stream_segments_is_read_at_once():
    path = "/2/" + "stream/" * 150_000
    assert is_stream_endpoint("api.x.com", path + "!") is False
    assert is_stream_endpoint("api.x.com", path + "rules") is False
    assert is_stream_endpoint("api.x.com", path + "lang") is True


def response_flow(url: str, status: int = 200) -> http.HTTPFlow:
    flow = tflow.tflow(live=True)
    flow.request = http.Request.make("GET", url)
    flow.response = http.Response.make(status, b"", {"transfer-encoding": "chunked"})
    return flow


@pytest.mark.parametrize(
    "url,status,scope,streamed",
    [
        ("https://stream.twitter.com/1.1/statuses/filter.json", 200, None, True),
        ("https://api.twitter.com/2/tweets/search/stream", 200, None, True),
        ("https://api.twitter.com/2/tweets/search/stream", 429, None, False),  # decoded instead
        ("https://api.twitter.com/2/tweets/search/recent", 200, None, False),
        ("https://example.com/2/tweets/search/stream", 200, None, False),  # out of scope
        ("https://api.twitter.com/2/tweets/search/stream", 200, "~d example.com", False),
    ],
)
def test_in_scope_stream_responses_are_streamed(url, status, scope, streamed):
    # a component: no mitmproxy needed around it
    chosen = Scope()
    if scope:
        chosen.configure(SimpleNamespace(twerr_scope=scope), {"twerr_scope"})
    flow = response_flow(url, status)
    Streams(chosen).responseheaders(flow)
    assert bool(flow.response.stream) is streamed


def test_a_fault_that_replaces_a_stream_buffers_it_and_a_window_stamps_it_at_once():
    twerr = Twerr()
    injector = twerr.parts.injector
    rules = [
        ":~u sample/stream:http503:phase=response",
        ":~u search/stream:88:ratelimit=2/900",
    ]

    async def through(tctx, url: str) -> http.HTTPFlow:
        flow = tflow.tflow(live=True)
        flow.request = http.Request.make("GET", url, b"", {"authorization": "Bearer abc"})
        addons = tctx.master.addons
        await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
        await addons.handle_lifecycle(HttpRequestHook(flow))
        if flow.response is None:
            flow.response = http.Response.make(200, b"", {"transfer-encoding": "chunked"})
            await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
            headers_sent = flow.response.headers.copy()  # what a streamed response sends
            flow.response.raw_content = None if flow.response.stream else b"{}"
            await addons.handle_lifecycle(HttpResponseHook(flow))
            flow.metadata["sent"] = headers_sent
        return flow

    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_seed=1, twerr_inject=rules)
        replaced = asyncio.run(through(tctx, "https://api.twitter.com/2/tweets/sample/stream"))
        assert replaced.response.stream is False and replaced.response.status_code == 503
        passed = asyncio.run(through(tctx, "https://api.twitter.com/2/tweets/search/stream"))
        assert passed.response.stream
        assert passed.metadata["sent"]["x-rate-limit-remaining"] == "1"
        assert passed.metadata["twerr"]["injected"]["window"]["remaining"] == 1
        assert passed.metadata["twerr"]["shape"] == "streamed"
        assert not injector.pending and not injector.active


def test_a_watched_stream_passes_every_byte_and_keeps_its_error_lines():
    watch = Watch()
    chunks = [
        b'{"data":{"id":"1"}}\r\n\r\n{"errors":[{"title":"operational-disconnect",',
        b'"disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has',
        b' been disconnected upstream for operational reasons.","type":"https://api.twitter.com',
        b'/2/problems/operational-disconnect"}]}\r\n',
        b"x" * (KEEP_LIMIT * 3),  # a line that never ends is not kept whole
    ]
    assert [watch(chunk) for chunk in chunks] == chunks
    response = http.Response.make(200)
    response.stream = watch
    kept = seen(response)
    assert kept == b"".join(chunks[:4]).split(b"\n")[2] + b"\n"
    decoded = decode(200, {}, kept, path="/2/tweets/search/stream")
    assert decoded.shape == "v2-errors" and decoded.errors[0].category == "server"
    assert len(watch.tail) == KEEP_LIMIT
    response.stream = True
    assert seen(response) is None
