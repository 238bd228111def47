from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from mitmproxy import flowfilter
from mitmproxy import http
from mitmproxy.test import tflow

from twerr.inject.matcher import Facts
from twerr.inject.matcher import compile_filter

LEAVES = st.sampled_from(
    [
        "~u /2/tweets",
        "~u statuses/update",
        "~u ^https://api",
        "~u 'id=[0-9]+'",
        "~d twitter.com",
        "~d ^api[.]x[.]com$",
        "~d 127.0.0.1",
        "~m POST",
        "~m GET",
        "~h x-twerr",
        "~hq authorization",
        "~q ",
        "~s ",
        "~marker warning",
        "~all",
        "/2/",
    ]
)


def expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        LEAVES,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]} & {p[1]} )"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]} | {p[1]} )"),
            inner.map(lambda e: f"!{e}"),
        ),
        max_leaves=6,
    )


@st.composite
def flows(draw) -> http.HTTPFlow:
    flow = tflow.tflow(resp=draw(st.booleans()))
    host = draw(st.sampled_from(["api.twitter.com", "api.x.com", "example.com", "127.0.0.1"]))
    path = draw(st.sampled_from(["/2/tweets", "/1.1/statuses/update.json", "/2/users?id=12", "/"]))
    headers = draw(st.sampled_from([{}, {"authorization": "Bearer x"}, {"x-twerr": "1"}]))
    flow.request = http.Request.make(
        draw(st.sampled_from(["GET", "POST"])), f"https://{host}{path}", b"", headers
    )
    if draw(st.booleans()):
        flow.request.headers["host"] = draw(st.sampled_from(["api.twitter.com", "other.org:8443"]))
    flow.marked = draw(st.sampled_from(["", ":warning:"]))
    return flow


@given(expressions(), flows())
@settings(max_examples=1000, deadline=None)
def test_the_compiled_filter_decides_as_mitmproxys_own(expression, flow):
    parsed = flowfilter.parse(expression)
    assert compile_filter(parsed)(flow, Facts(flow)) == bool(parsed(flow))


def test_the_url_is_read_once_for_all_rules():
    flow = tflow.tflow()
    facts = Facts(flow)
    tests = [compile_filter(flowfilter.parse(f"~u /nowhere/{i}")) for i in range(20)]
    assert not any(test(flow, facts) for test in tests)
    assert facts._url == flow.request.pretty_url  # computed once, then reused
