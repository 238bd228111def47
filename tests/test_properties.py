"""Property tests: whatever the network or the user sends, twerr gives a result or a clear
error, and what it writes on a flow survives a flow file.

Each test counts the examples it runs into conftest.EXAMPLES; pytest prints the tally at the
end ("hypothesis examples run").
"""

import base64
import io
import json
import logging

import pytest
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy import io as mitmio
from mitmproxy.io import tnetstring
from mitmproxy.proxy.layers.http import HttpErrorHook
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpResponseHook
from mitmproxy.test import taddons
from mitmproxy.test import tflow

import corpus
from tally import EXAMPLES
from twerr import record
from twerr.addon import Twerr
from twerr.classify import annotate
from twerr.decode import decode
from twerr.decode import decode_failure
from twerr.inject.rules import Rule
from twerr.inject.rules import load_rules_file
from twerr.inject.rules import parse_header
from twerr.inject.rules import parse_spec

EXAMPLES_PER_PROPERTY = 600
PROPERTY = settings(
    max_examples=EXAMPLES_PER_PROPERTY,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # caplog: cleared in each example
    ],
)

# -- JSON with the API's field names holding any type -----------------------------------------

FIELDS = [
    "errors",
    "error",
    "code",
    "message",
    "type",
    "title",
    "detail",
    "status",
    "data",
    "processing_info",
    "state",
    "name",
    "error_description",
    "parameters",
    "resource_id",
    "value",
    "details",
    "request",
    "access_token",
]
# any code point, lone surrogates included (hypothesis leaves them out unless asked, and rarely
# draws them even then: the second alphabet makes them common)
text = st.text(st.characters(exclude_categories=[]), max_size=40) | st.text(
    st.sampled_from(["\ud800", "\udcff", "\udfff", "a", "é", "\x00", "\n", "'", '"']), max_size=8
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(["failed", "about:blank", "Bearer AAAAAAAAAAAAAAAAAAAAAx", "88", "1e999"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | text, inner, max_size=5)
    ),
    max_leaves=25,
)
api_objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def nested(depth: int) -> bytes:
    return b'{"errors":' + b"[" * depth + b"1" + b"]" * depth + b"}"


oddities = st.sampled_from(
    [
        nested(50),
        nested(5000),
        nested(200_000),
        b'{"errors":[{"code":' + b"9" * 5000 + b"}]}",  # beyond int()'s digit limit
        b'{"errors":[{"code":1e999,"message":-1e999}]}',
        b'{"errors":[{"code":NaN}]}',
        b'{"errors":[{"message":"\\ud800\\udfff\\udc00"}]}',
        b'{"errors":[{"code":88,"message":"x"}]',  # truncated
        b'{"errors"',
        b"\xef\xbb\xbf" + b'{"errors":[{"code":187}]}',
        b'{"errors":[{"code":187}]}'.decode().encode("utf-16"),
        b'{"errors":[{"code":187,"message":"\xff\xfe"}]}',
        b"\x00" * 64,
    ]
)
plain_bodies = st.one_of(
    st.binary(max_size=400),
    api_objects.map(dumps),
    api_objects.map(dumps).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
    json_values.map(dumps),
    oddities,
)


def compress(body: bytes, encoding: str) -> bytes:
    return corpus.encode(body, "gzip" if encoding == "x-gzip" else encoding)


ENCODINGS = ["", "gzip", "x-gzip", "deflate", "br", "zstd", "identity", "gzip, br", "bogus"]


@st.composite
def wire_bodies(draw) -> tuple[bytes, str]:
    """A body and its content-encoding: compressed right, truncated, garbled or mislabelled."""
    body = draw(plain_bodies)
    encoding = draw(st.sampled_from(ENCODINGS))
    how = draw(st.sampled_from(["right", "right", "truncated", "garbled", "labelled only"]))
    if how == "labelled only":
        return body, encoding
    wire = body
    for name in reversed([e.strip() for e in encoding.split(",")]):
        wire = compress(wire, name)
    if how == "truncated":
        wire = wire[: draw(st.integers(0, len(wire)))]
    elif how == "garbled" and wire:
        at = draw(st.integers(0, len(wire) - 1))
        wire = wire[:at] + bytes([wire[at] ^ 0x5A]) + wire[at + 1 :]
    return wire, encoding


header_names = st.sampled_from(
    [
        b"content-type",
        b"Content-Type",
        b"content-encoding",
        b"x-rate-limit-reset",
        b"X-Rate-Limit-Remaining",
        b"x-rate-limit-limit",
        b"x-app-limit-24hour-remaining",
        b"x-user-limit-24hour-reset",
        b"retry-after",
        b"date",
        b"set-cookie",
    ]
) | st.binary(min_size=1, max_size=12)
header_values = st.one_of(
    st.binary(max_size=40),
    st.integers(-(10**40), 10**40).map(lambda n: str(n).encode()),
    st.sampled_from(
        [
            b"application/json; charset=utf-8",
            b"text/html; charset=bogus",
            b"text/plain; charset=utf-16",
            b"application/json; charset=rot13",
            b"rot13",  # content-encodings that name Python codecs: mitmproxy's decoding
            b"273",  # raises TypeError for a text-to-text one, returns text for a charset
            b"utf-8",
            b"Sun, 03 Apr 2022 09:04:40 GMT",
            b"Thu, 01 Jan 9999 00:00:00 GMT",
            b"9" * 400,
        ]
    ),
)
wire_headers = st.lists(st.tuples(header_names, header_values), max_size=8)
statuses = st.one_of(
    st.sampled_from([200, 201, 204, 400, 401, 403, 404, 420, 429, 500, 503]),
    st.integers(-(2**70), 2**70),
)
paths = st.one_of(
    st.sampled_from(
        [
            "",
            "/1.1/statuses/update.json",
            "/1.1/media/upload.json",
            "/2/tweets",
            "/2/tweets/search/stream",
            "/oauth/request_token?oauth_token=x",
        ]
    ),
    text,
)


def as_sent(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> http.Response:
    """A response as it came off the wire: make() would add a content-length, and encode the
    body by the headers' content-encoding."""
    response = http.Response.make(status)
    response.headers = http.Headers(headers)
    response.raw_content = body
    return response


def assert_storable(meta: dict) -> None:
    """JSON-like, and exactly what a flow file gives back."""
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta
    assert tnetstring.loads(tnetstring.dumps(meta)) == meta


@PROPERTY
@given(status=statuses, headers=wire_headers, wire=wire_bodies(), path=paths)
@example(status=403, headers=[], wire=(nested(200_000), ""), path="/1.1/x")
@example(status=200, headers=[], wire=(nested(200_000), ""), path="/2/tweets")
@example(status=429, headers=[(b"content-encoding", b"gzip")], wire=(b"\x1f\x8b", "gzip"), path="")
def test_decode_never_raises_and_gives_storable_metadata(status, headers, wire, path):
    EXAMPLES["decode"] += 1
    body, encoding = wire
    if encoding:
        headers = [*headers, (b"content-encoding", encoding.encode())]
    decoded = decode(status, headers, body, path=path)
    assert "decoder error" not in decoded.note  # the catch-all was not needed
    assert_storable(record.of_decoded(decoded))
    if decoded.status >= 400:
        assert decoded.errors


@PROPERTY
@given(
    message=text | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
    status=st.none() | statuses,
    path=paths,
)
def test_decode_failure_never_raises(message, status, path):
    EXAMPLES["decode_failure"] += 1
    meta = record.of_decoded(decode_failure(message, status=status, path=path))
    assert_storable(meta)
    assert meta["shape"] == "transport-error" and meta["category"] == "network"


# -- rules: a valid rule or a ValueError, nothing else ----------------------------------------

FAULTS = [
    "187",
    "88",
    "http503",
    "usage-capped",
    "429-no-reset",
    "reset",
    "timeout",
    "slow",
    "truncate",
    "empty",
    "pass",
    "json-array",
]
PARAM_VALUES = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["request", "response", "15/900", "0/0", "1/", "a/b", "", "9" * 5000]),
    text,
)
filters = st.one_of(
    st.sampled_from(
        [
            "",
            "~u /2/",
            "~m POST & ~u update",
            "!(~d x.com)",
            "~s",
            "~c 429",
            "~u (",
            "~q",
            "~h 'a:b'",
            "~all",
            "(" * 400,
        ]
    ),
    text,
)


@st.composite
def specs(draw) -> str:
    sep = draw(st.sampled_from(":|#!,=") | st.characters())
    fault = draw(st.sampled_from(FAULTS) | text)
    params = draw(
        st.dictionaries(st.sampled_from(list(Rule.model_fields)) | text, PARAM_VALUES, max_size=4)
    )
    tail = ",".join(f"{k}={v}" for k, v in params.items())
    parts = [draw(filters), fault] + ([tail] if draw(st.booleans()) else [])
    return sep + sep.join(parts)


@PROPERTY
@given(spec=specs() | text)
@example(spec=":~u x:88:ratelimit=1/" + "9" * 5000)
@example(spec=":" + "(" * 2000 + ":187")
@example(spec="\udcff\udcff\udcff")
def test_any_spec_gives_a_rule_or_a_value_error(spec):
    EXAMPLES["parse_spec"] += 1
    try:
        rule = parse_spec(spec)
    except ValueError as e:
        assert str(e).strip()
    else:
        assert isinstance(rule, Rule) and rule.describe()


@PROPERTY
@given(value=text | st.builds(lambda f, p: f"{f};{p}", st.sampled_from(FAULTS), text))
def test_any_header_gives_a_rule_or_a_value_error(value):
    EXAMPLES["parse_header"] += 1
    try:
        rule = parse_header(value)
    except ValueError as e:
        assert str(e).strip()
    else:
        assert isinstance(rule, Rule) and rule.match is None


rule_mappings = st.dictionaries(
    st.sampled_from([*Rule.model_fields, "nonsense"]) | text,
    st.one_of(json_values, PARAM_VALUES, st.sampled_from(FAULTS), filters),
    max_size=6,
)
rule_documents = st.one_of(
    st.lists(rule_mappings, max_size=4),
    st.fixed_dictionaries({"rules": st.lists(rule_mappings, max_size=4)}),
    json_values,
)


@st.composite
def rules_files(draw) -> bytes:
    kind = draw(st.sampled_from(["json", "yaml-ish", "bytes", "deep"]))
    if kind == "json":
        return json.dumps(draw(rule_documents), ensure_ascii=False).encode("utf-8", "replace")
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        return b"rules:\n" + b"- " * draw(st.integers(1, 3000)) + b"x\n"
    lines = [f"- match: {draw(filters)!r}", f"  fault: {draw(st.sampled_from(FAULTS) | text)}"]
    for name, value in draw(
        st.dictionaries(st.sampled_from(list(Rule.model_fields)), PARAM_VALUES, max_size=3)
    ).items():
        lines.append(f"  {name}: {value}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@PROPERTY
@given(content=rules_files())
@example(content=b"[" * 5000)
@example(content=b"&a [*a]")
@example(content=b"- !!python/object/apply:os.system ['true']")
def test_any_rules_file_gives_rules_or_a_value_error(content, tmp_path_factory):
    EXAMPLES["load_rules_file"] += 1
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_bytes(content)
    try:
        rules = load_rules_file(path)
    except ValueError as e:
        assert str(e).strip() and "rules.yaml" in str(e)
    else:
        assert all(isinstance(rule, Rule) and where for rule, where in rules)


# -- nothing lost: what twerr writes on a flow survives a flow file ---------------------------

storable_text = text.map(lambda t: t.encode("utf-8", "backslashreplace").decode())
injected_records = st.none() | st.fixed_dictionaries(
    {
        # as the injector writes them: storable (its test below feeds it undecodable rules)
        "rule": st.sampled_from(["twerr_inject[0]", "X-Twerr-Inject"]) | storable_text,
        "spec": storable_text,
        "fault": st.sampled_from(FAULTS),
        "phase": st.sampled_from(["request", "response"]),
        "seed": st.integers(0, 2**64),
        "match": st.integers(1, 10**9),
        "injection": st.none() | st.integers(1, 10**9),
        "draw": st.none() | st.floats(0, 1, exclude_max=True),
    }
)


def round_trip(flow: http.HTTPFlow) -> http.HTTPFlow:
    buffer = io.BytesIO()
    mitmio.FlowWriter(buffer).add(flow)
    [read] = list(mitmio.FlowReader(io.BytesIO(buffer.getvalue())).stream())
    return read


@PROPERTY
@given(
    status=st.integers(100, 599),
    headers=wire_headers,
    wire=wire_bodies(),
    path=st.binary(max_size=30).map(lambda p: b"/2/" + p) | st.sampled_from([b"/1.1/x.json"]),
    comment=text,
    marked=st.sampled_from(["", ":warning:", ":syringe:"]),
)
def test_annotations_survive_a_flow_file(status, headers, wire, path, comment, marked):
    EXAMPLES["annotate + flow file"] += 1
    body, encoding = wire
    if encoding:
        headers = [*headers, (b"content-encoding", encoding.encode())]
    flow = tflow.tflow(
        req=http.Request.make("GET", "https://api.twitter.com/"),
        resp=as_sent(status, headers, body),
    )
    flow.request.path = path.decode("utf-8", "surrogateescape")
    flow.comment = comment.encode("utf-8", "replace").decode()  # the user's own: storable
    flow.marked = marked
    decoded = decode(status, flow.response.headers.fields, body, path=flow.request.path)
    annotate(flow, decoded)
    read = round_trip(flow)
    assert read.metadata == flow.metadata
    assert (read.comment, read.marked) == (flow.comment, flow.marked)


@PROPERTY
@given(
    status=st.integers(100, 599),
    headers=wire_headers,
    wire=wire_bodies(),
    path=paths,
    injected=injected_records,
)
@example(
    status=100, headers=[(b"content-encoding", b"273")], wire=(b"", ""), path="", injected=None
)
def test_an_injected_record_survives_a_flow_file(status, headers, wire, path, injected):
    EXAMPLES["annotate with injected record + flow file"] += 1
    body, _ = wire
    flow = tflow.tflow(
        req=http.Request.make("GET", "https://api.twitter.com/"),
        resp=as_sent(status, headers, body),
    )
    flow.request.path = ("/" + path).encode("utf-8", "surrogatepass")  # any bytes
    flow.metadata["twerr"] = {"injected": injected}
    annotate(flow, decode(status, headers, body, path=flow.request.path))
    read = round_trip(flow)
    assert read.metadata == flow.metadata
    assert (read.comment, read.marked) == (flow.comment, flow.marked)


# -- the injector end to end: what it keeps of the API's answer, and in which words ----------

RESPONSE_FAULTS = ["http503", "187", "truncate", "reset", "empty", "88", "json-array"]
filter_words = text.map(
    lambda t: "".join(c for c in t if c.isalnum() or c in "-_./@" or "\ud800" <= c <= "\udfff")
).filter(bool)


class Pipeline:
    """scope, streams, injector and classifier in one taddons context (with its own event
    loop) for a whole property test; each example sends one flow through their hooks."""

    def __init__(self) -> None:
        self.twerr = Twerr()
        self.tctx = taddons.context(self.twerr)
        self.tctx.configure(self.twerr, twerr_scope="~all")

    def send(self, options: dict, flow: http.HTTPFlow, upstream: http.Response) -> None:
        self.tctx.configure(self.twerr, twerr_seed=3, **options)
        self.tctx.master.event_loop.run_until_complete(self._send(flow, upstream))

    async def _send(self, flow: http.HTTPFlow, upstream: http.Response) -> None:
        addons = self.tctx.master.addons
        await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
        await addons.handle_lifecycle(HttpRequestHook(flow))
        if flow.error is None and flow.response is None:
            flow.response = upstream
            await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
            await addons.handle_lifecycle(HttpResponseHook(flow))
        if flow.error is not None:
            await addons.handle_lifecycle(HttpErrorHook(flow))


@pytest.fixture(scope="module")
def pipeline():
    made = Pipeline()
    with made.tctx:
        yield made


@PROPERTY
@given(
    fault=st.sampled_from(RESPONSE_FAULTS),
    word=filter_words,
    status=st.integers(100, 599),
    headers=wire_headers,
    wire=wire_bodies(),
    path=paths,
)
@example(fault="187", word="\udcff", status=200, headers=[], wire=(b"{}", ""), path="/1.1/x")
@example(
    fault="187",
    word="elsewhere",
    status=200,
    headers=[(b"content-encoding", b"rot13")],
    wire=(b"{}", ""),
    path="/1.1/x",
)
def test_a_response_phase_fault_keeps_the_apis_answer_through_a_flow_file(
    pipeline, caplog, fault, word, status, headers, wire, path
):
    EXAMPLES["injector phase=response + flow file"] += 1
    body, _ = wire
    flow = tflow.tflow(live=True)
    flow.request = http.Request.make("GET", "https://api.twitter.com/", b"")
    flow.request.path = ("/" + path).encode("utf-8", "surrogatepass")  # any bytes
    upstream = as_sent(status, headers, body)
    spec = f'|!~u "{word}"|{fault}|phase=response'
    caplog.clear()
    pipeline.send({"twerr_inject": [spec]}, flow, upstream)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    read = round_trip(flow)
    assert read.metadata == flow.metadata
    assert (read.comment, read.marked) == (flow.comment, flow.marked)
    record = flow.metadata["twerr"]["injected"]
    if record is None:  # the rule's filter did not match this path, or nothing to do it to
        return
    original = record["original"]
    assert original["status"] == status
    kept = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in original["headers"]]
    sent = [(k, v) for k, v in headers if k.lower() != b"set-cookie"]
    if "body_withheld" in original:
        assert [h for h in kept if h[0].lower() != b"location"] == [
            h for h in sent if h[0].lower() != b"location"
        ]
    else:
        assert kept == sent
        assert base64.b64decode(original["body_base64"]) == body
