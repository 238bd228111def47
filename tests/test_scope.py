"""The scope option's helpers: which host a request asked for, and a request header, read
from the raw fields as mitmproxy's own properties would give them."""

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow
from mitmproxy.test import tutils

from twerr.addon import Twerr
from twerr.mitm import request_header
from twerr.mitm import request_query
from twerr.mitm import requested_host


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


def rot13_labelled_flow() -> http.HTTPFlow:
    """Bodies labelled with a text codec's name: mitmproxy's body filters raise TypeError."""
    flow = tflow.tflow(resp=True)
    for message in (flow.request, flow.response):
        message.headers["content-encoding"] = "rot13"
        message.raw_content = b'{"status":"x"}'
    return flow


@pytest.mark.parametrize("expression", ["~b status", "~bq status", "~bs status", "~all & ~b x"])
def test_a_scope_on_a_body_mitmproxy_cannot_read_leaves_the_flow_alone(expression):
    twerr = Twerr()
    scope = twerr.parts.scope
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_scope=expression)
        assert scope(rot13_labelled_flow()) is False
        readable = tflow.tflow(
            req=tutils.treq(content=b"status x"), resp=tutils.tresp(content=b"status x")
        )
        assert scope(readable) is True


@pytest.mark.parametrize("depth,parsed", [(99, True), (101, False), (1200, False)])
def test_a_scope_nested_too_deep_to_match_is_refused_and_the_old_one_stays(depth, parsed):
    twerr = Twerr()
    scope = twerr.parts.scope
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_scope="~all")
        expression = "!" * (depth - 1) + "~s"  # each ! a level, and the leaf one more
        if parsed:
            tctx.configure(twerr, twerr_scope=expression)
            assert scope(tflow.tflow(resp=True)) is (depth % 2 == 1)
            return
        with pytest.raises(exceptions.OptionsError, match="nested more than 100 levels deep"):
            tctx.configure(twerr, twerr_scope=expression)
        assert tctx.options.twerr_scope == "~all"
        assert scope(tflow.tflow()) is True


query_text = st.text(st.sampled_from("ab=&?#%2F;+\t\n é\udcff"), max_size=30)


@settings(max_examples=500, deadline=None)
@given(path=query_text.map(lambda text: "/2/x" + text))
def test_the_query_is_read_from_the_path_as_mitmproxy_reads_it_from_the_url(path):
    made = request()
    made.path = path
    assert request_query(made) == list(made.query.items(multi=True))


def test_the_query_of_a_request_to_a_host_no_url_can_hold():
    made = request()
    made.host = "a]b"  # a SOCKS client's name for it, say
    made.path = "/1.1/x.json?oauth_token=t&count=5"
    with pytest.raises(ValueError, match="Invalid IPv6 URL"):  # mitmproxy's own reading
        list(made.query.items(multi=True))
    assert request_query(made) == [("oauth_token", "t"), ("count", "5")]
