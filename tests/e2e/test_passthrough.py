"""With classification only, what reaches the client through a real mitmdump is exactly what
the upstream sent: status, headers and body bytes; streams go out as they come, unbuffered."""

import gzip
import hashlib
import http.client
import threading

import brotli
import pytest
from mitmproxy import io as mitmio

from processes import reverse_proxy_args
from upstream import Canned
from upstream import Upstream
from upstream import chunked
from upstream import fixed

pytestmark = pytest.mark.e2e

JSON = [("content-type", "application/json; charset=utf-8")]
ERROR_187 = b'{"errors":[{"code":187,"message":"Status is a duplicate."}]}'
BIG = 50 * 1024 * 1024
STREAMS = {  # host, path: a stream's first part, then the rest once the client has the first
    "stream": ("stream.twitter.com", "/1.1/statuses/filter.json"),
    "v2-search-stream": ("api.twitter.com", "/2/tweets/search/stream"),
    "v2-sample-stream": ("api.x.com", "/2/tweets/sample/stream"),
}


def big_body() -> bytes:
    row = b'{"id":"1445880548472328192","text":"hello world, again and again"},'
    return b'{"data":[' + row * (BIG // len(row)) + b'{"id":"1"}]}'


def corpus() -> dict[str, tuple[str, str, Canned]]:
    """name -> (host, path, the upstream's response)"""
    gates = {name: threading.Event() for name in STREAMS}
    cases = {
        "gzip-error": (
            "api.twitter.com",
            "/1.1/statuses/update.json",
            fixed(403, [*JSON, ("content-encoding", "gzip")], gzip.compress(ERROR_187)),
        ),
        "gzip-success": (
            "api.twitter.com",
            "/2/tweets",
            fixed(200, [*JSON, ("content-encoding", "gzip")], gzip.compress(b'{"data":[]}')),
        ),
        "br-garbage": (
            "api.twitter.com",
            "/2/users/me",
            fixed(429, [*JSON, ("content-encoding", "br")], b"\x00not brotli at all\xff"),
        ),
        "br-success": (
            "api.x.com",
            "/2/tweets/20",
            fixed(200, [*JSON, ("content-encoding", "br")], brotli.compress(b'{"data":{}}')),
        ),
        "chunked-error": (
            "api.twitter.com",
            "/1.1/statuses/show.json",
            chunked(404, JSON, [b'{"errors":[{"code":144,', b'"message":"No status found."}]}']),
        ),
        "chunked-success": (
            "api.twitter.com",
            "/2/tweets/search/recent",
            chunked(200, JSON, [b'{"data":[', b'{"id":"1"}', b"]}"]),
        ),
        "large": ("api.twitter.com", "/2/tweets/search/all", fixed(200, JSON, big_body())),
        "html-503": (
            "api.twitter.com",
            "/1.1/help/configuration.json",
            fixed(
                503,
                [("content-type", "text/html")],
                b"<html><title>Twitter / Over capacity</title></html>",
            ),
        ),
        "text-429": (
            "upload.twitter.com",
            "/1.1/media/upload.json",
            fixed(429, [("content-type", "text/plain")], b"Rate limit exceeded\n"),
        ),
        "binary": (
            "api.twitter.com",
            "/1.1/media/x.png",
            fixed(200, [("content-type", "image/png")], bytes(range(256)) * 64),
        ),
        "empty-204": ("api.twitter.com", "/2/users/1/following/2", Canned(204, [], [b""])),
        "odd-headers": (
            "api.twitter.com",
            "/2/odd",
            fixed(
                400,
                [
                    ("Content-Type", "application/problem+json"),
                    ("X-Rate-Limit-Reset", "99999999999999999999999"),
                    ("set-cookie", "guest_id=v1%3A1; Path=/"),
                    ("set-cookie", "ct0=abc; Path=/"),
                    ("x-weird", "\xe9t\xe9"),
                ],
                b'{"type":"about:blank","title":7,"detail":null}',
            ),
        ),
    }
    for name, (host, path) in STREAMS.items():
        lines = [
            b'{"data":{"id":"1","text":"first"}}\r\n',
            b"\r\n",
            b'{"data":{"id":"2","text":"second"}}\r\n',
        ]
        cases[name] = (host, path, chunked(200, JSON, lines, gate=gates[name]))
    return cases


def fetch(port: int, host: str, path: str, canned: Canned) -> tuple[int, list, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers={"host": host, "accept-encoding": "gzip, br"})
    response = connection.getresponse()
    if canned.gate is not None:
        # the first part must arrive while the upstream still holds the rest back: a buffered
        # stream never delivers it, and this read fails with a timeout
        response.fp.raw._sock.settimeout(20)  # type: ignore[union-attr]
        first = response.read1(len(canned.parts[0]))
        canned.gate.set()
        body = first + response.read()
    else:
        body = response.read()
    got = (response.status, response.getheaders(), body)
    connection.close()
    return got


def test_everything_reaches_the_client_as_the_upstream_sent_it(mitmdump, tmp_path):
    cases = corpus()
    out = tmp_path / "flows.mitm"
    with Upstream({path: canned for _, path, canned in cases.values()}) as upstream:
        proxy = mitmdump(*reverse_proxy_args(upstream.port, out, "--flow-detail", "0"))
        received = {
            name: fetch(proxy.port, host, path, canned)
            for name, (host, path, canned) in cases.items()
        }
        output = proxy.stop()
    assert "Traceback" not in output and "Addon error" not in output
    for name, (_, _, canned) in cases.items():
        status, headers, body = received[name]
        assert status == canned.status, name
        assert headers == canned.headers, name  # the same names, values, order and case
        if name == "large":
            assert hashlib.sha256(body).digest() == hashlib.sha256(canned.body).digest()
        else:
            assert body == canned.body, name
    with open(out, "rb") as file:
        flows = {f.request.path: f for f in mitmio.FlowReader(file).stream()}
    assert len(flows) == len(cases)
    for name, (_, path, _) in cases.items():
        meta = flows[path].metadata["twerr"]  # in scope: decoded, though nothing was changed
        assert (meta["shape"] == "streamed") is (name in STREAMS), name
    assert flows["/1.1/statuses/update.json"].metadata["twerr"]["errors"][0]["code"] == 187
    assert flows["/2/tweets/search/all"].metadata["twerr"]["shape"] == "success"
