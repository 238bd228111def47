"""The scope option's helpers: which host a request asked for, and a request header, read
from the raw fields as mitmproxy's own properties would give them."""

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from twerr.scope import request_header
from twerr.scope import requested_host


def request(url="https://api.twitter.com/2/tweets", version="HTTP/1.1", **headers):
    made = http.Request.make("GET", url, b"", headers)
    made.http_version = version
    return made


@pytest.mark.parametrize(
    "made",
    [
        request(),  # no Host header: the request's own host
        request(host="api.twitter.com"),
        request(host="api.x.com:443"),
        request(host="[::1]:8080"),
        request(host="api.twitter.com."),
        request(url="http://127.0.0.1:9/2/tweets", host="api.twitter.com"),  # reverse mode
        request(version="HTTP/2.0"),
    ],
)
def test_the_requested_host_is_what_pretty_host_says(made):
    assert requested_host(made) == made.pretty_host


def test_http2_asks_by_authority_and_a_request_without_host_by_its_address():
    h2 = request(version="HTTP/2.0", host="ignored.example")
    h2.authority = "api.x.com:443"
    assert requested_host(h2) == "api.x.com"
    bare = request(url="http://api.twitter.com:8080/1.1/x.json")
    assert "host" not in bare.headers
    assert requested_host(bare) == "api.twitter.com" == bare.pretty_host


def test_a_request_header_is_the_first_of_its_name_in_any_case():
    flow = tflow.tflow()
    flow.request.headers.fields = (
        (b"Accept", b"*/*"),
        (b"AUTHORIZATION", b"Bearer first"),
        (b"authorization", b"Bearer second"),
    )
    assert request_header(flow.request, b"authorization") == "Bearer first"
    assert request_header(flow.request, b"cookie") is None
