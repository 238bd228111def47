import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from mitmproxy import exceptions
from mitmproxy import flow as mitmflow
from mitmproxy import io as mitmio
from mitmproxy import log
from mitmproxy.test import taddons
from mitmproxy.test import tflow
from mitmproxy.test import tutils

import corpus
from twerr.addon import Twerr
from twerr.options import DEFAULT_SCOPE

SAMPLES = corpus.load().responses
BY_ID = {sample.id: sample for sample in SAMPLES}
KEYS = {
    "status",
    "status_text",
    "api",
    "shape",
    "errors",
    "category",
    "retry",
    "retryable",
    "retry_at",
    "retry_at_utc",
    "action",
    "rate_limit",
    "note",
    "injected",
    "audit",
    "endpoint",
    "comment",
    "marker",
}
ERROR_KEYS = {"code", "message", "meaning", "category", "http_status"}


def classify(flow, **options) -> None:
    """Run a fresh classifier's response hook on the flow, as mitmproxy would."""
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr) as tctx:
        if options:
            tctx.configure(twerr, **options)
        classifier.response(flow)


def classified(sample_id: str, **options) -> tuple:
    flow = corpus.make_flow(BY_ID[sample_id])
    classify(flow, **options)
    return flow, flow.metadata.get("twerr")


def wire_state(flow) -> dict:
    """Everything of a flow but what twerr may write."""
    state = flow.get_state()
    for key in ("metadata", "comment", "marked"):
        state.pop(key)
    return state


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_every_reference_flow_is_annotated_and_untouched(sample):
    flow = corpus.make_flow(sample)
    before = wire_state(flow)
    classify(flow)
    assert wire_state(flow) == before
    meta = flow.metadata["twerr"]
    assert set(meta) >= KEYS
    assert (meta["status"], meta["shape"], meta["api"]) == (
        sample.status,
        sample.expect.shape,
        sample.expect.api,
    )
    assert meta["injected"] is None
    assert all(set(error) >= ERROR_KEYS for error in meta["errors"])
    assert json.loads(json.dumps(meta)) == meta
    if sample.expect.category == "success":
        assert (meta["errors"], flow.comment, flow.marked) == ([], "", "")
    else:
        assert flow.marked
        quota_lines = 1 if meta["quota"] else 0  # which limit binds, for a 429, 402 or cap
        assert len(flow.comment.splitlines()) == len(meta["errors"]) + quota_lines
        assert bool(meta["quota"]) == (
            sample.status in (402, 429) or meta["category"] in ("rate_limit", "billing")
        )


@pytest.mark.parametrize(
    "sample_id,marker",
    [
        ("v1.1-187-duplicate", ":warning:"),
        ("v1.1-88-rate-limit", ":hourglass:"),
        ("v2-429-usage-capped", ":hourglass:"),
        ("v1.1-32-auth", ":lock:"),
        ("v2-403-client-forbidden", ":lock:"),
        ("v1.1-130-over-capacity", ":rotating_light:"),
        ("html-over-capacity", ":rotating_light:"),
        ("v2-partial-not-found", ":information_source:"),
        ("media-processing-failed", ":information_source:"),
        ("v2-success-gzip", ""),
    ],
)
def test_marker_by_severity(sample_id, marker):
    flow, meta = classified(sample_id)
    assert flow.marked == marker
    assert meta["marker"] == (marker or None)


def test_comment_line_for_a_duplicate():
    flow, _ = classified("v1.1-187-duplicate")
    assert flow.comment == (
        "187 Status is a duplicate — "
        "The status text has already been Tweeted by the authenticated account."
    )


def test_rate_limit_comment_says_when_to_retry():
    flow, meta = classified("v1.1-88-rate-limit")
    assert flow.comment.endswith(
        "\nquota: blocked by the 15-minute window (0/900, resets 2022-04-03 09:04:40Z)"
    )
    assert (meta["quota"]["binding"], meta["quota"]["retry_at_utc"]) == (
        "window",
        "2022-04-03T09:04:40Z",
    )
    assert meta["retry_at"] == 1648976680
    assert meta["rate_limit"]["remaining"] == 0


def test_24_hour_cap_points_at_the_day_reset():
    flow, meta = classified("v2-429-app-24h-cap")
    assert meta["rate_limit"]["exhausted"] == ["app_24h"]
    assert meta["retry_at_utc"] == "2022-10-08T20:46:40Z"
    assert flow.comment.endswith(
        "\nquota: blocked by the app 24-hour cap (0/1000, resets 2022-10-08 20:46:40Z); "
        "the 15-minute window has 49 left: retrying at its reset will fail"
    )
    assert meta["quota"]["retry_at_utc"] == meta["retry_at_utc"]


def test_undecodable_body_is_said_so():
    flow, meta = classified("v1.1-130-truncated")
    assert meta["shape"] == "undecodable"
    assert flow.comment.startswith("HTTP 503 Service Unavailable — ")
    assert "[undecodable body: truncated JSON" in flow.comment


def test_undecodable_success_gets_a_line_and_a_question_mark():
    flow = tflow.tflow(
        req=tutils.treq(host="api.twitter.com", path=b"/2/tweets", port=443, scheme=b"https"),
        resp=tutils.tresp(content=b'{"data":[],"errors":[{"title":', headers=[]),
    )
    classify(flow)
    assert flow.marked == ":question:"
    assert flow.comment.startswith("HTTP 200 OK — undecodable body: truncated JSON")


def test_existing_comment_is_kept_and_reclassifying_replaces_our_lines():
    flow = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    flow.comment = "checked by Ana"
    classify(flow)
    first = flow.comment
    classify(flow)  # e.g. a flow file written through twerr, read through it again
    assert first.startswith("checked by Ana\n187 Status is a duplicate")
    assert flow.comment == first


def test_a_users_marker_is_kept():
    flow = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    flow.marked = ":star:"
    classify(flow)
    assert flow.marked == ":star:"
    assert flow.metadata["twerr"]["marker"] is None


def test_injected_record_survives_classification():
    flow = corpus.make_flow(BY_ID["v1.1-88-rate-limit"])
    flow.metadata["twerr"] = {"injected": {"rule": ":~u timeline:88"}}
    classify(flow)
    assert flow.metadata["twerr"]["injected"] == {"rule": ":~u timeline:88"}


def twitter_and_other_flows():
    twitter = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    other = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    other.request.host = "example.com"
    other.request.headers["host"] = "example.com"
    return twitter, other


@pytest.mark.parametrize(
    "scope,twitter_classified,other_classified",
    [
        (DEFAULT_SCOPE, True, False),
        ("~d example.com", False, True),
        ("~all", True, True),
        ("~u /1.1/ & !~d example", True, False),
    ],
)
def test_scope(scope, twitter_classified, other_classified):
    twitter, other = twitter_and_other_flows()
    before = other.get_state()
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_scope=scope)
        classifier.response(twitter)
        classifier.response(other)
    assert ("twerr" in twitter.metadata) is twitter_classified
    assert ("twerr" in other.metadata) is other_classified
    if not other_classified:
        assert other.get_state() == before


@pytest.mark.parametrize(
    "host",
    [
        "api.twitter.com",
        "api.x.com",
        "upload.twitter.com",
        "upload.x.com",
        "stream.twitter.com",
        "stream.x.com",
        "ads-api.twitter.com",
    ],
)
def test_default_scope_hosts(host):
    flow = tflow.tflow(req=tutils.treq(host=host, port=443), resp=tutils.tresp(status_code=503))
    flow.request.headers["host"] = host
    classify(flow)
    assert flow.metadata["twerr"]["category"] == "server"


@pytest.mark.parametrize(
    "host", ["twitter.com", "api.twitter.com.evil.example", "x.com", "myapi.x.com", "example.com"]
)
def test_default_scope_leaves_other_hosts_alone(host):
    flow = tflow.tflow(req=tutils.treq(host=host, port=443), resp=tutils.tresp(status_code=503))
    flow.request.headers["host"] = host
    classify(flow)
    assert flow.metadata == {} and flow.comment == "" and flow.marked == ""


@pytest.mark.parametrize(
    "bad,complaint",
    [("~d (", "Invalid filter expression"), ("", "empty filter"), ("  ", "empty filter")],
)
def test_bad_scope_is_refused_and_the_old_one_stays(bad, complaint):
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_scope="~d example.com")
        with pytest.raises(exceptions.OptionsError, match=f"twerr_scope.*{complaint}"):
            tctx.configure(twerr, twerr_scope=bad)
        assert tctx.options.twerr_scope == "~d example.com"
        _, other = twitter_and_other_flows()
        classifier.response(other)
    assert "twerr" in other.metadata


def test_transport_error_is_annotated():
    flow = tflow.tflow(req=tutils.treq(host="api.twitter.com", port=443), err=True)
    flow.request.headers["host"] = "api.twitter.com"
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        classifier.error(flow)
    meta = flow.metadata["twerr"]
    assert (meta["status"], meta["shape"], meta["category"]) == (0, "transport-error", "network")
    assert flow.marked == ":rotating_light:"
    assert flow.comment.startswith("Transport error: error")


def test_transport_error_out_of_scope_is_ignored():
    flow = tflow.tflow(err=True)
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        classifier.error(flow)
    assert flow.metadata == {} and flow.comment == ""


def test_the_flow_lines_skip_only_the_deprecated_add_log_event():
    def record(name: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.INFO, __file__, 1, "a line", None, None)

    twerr = Twerr()
    with taddons.context(twerr) as tctx:
        legacy = tctx.master._legacy_log_events
        assert isinstance(legacy, log.LegacyLogEvents)
        assert not legacy.filter(record("twerr.flows"))
        assert legacy.filter(record("twerr.classify"))  # the closing tally, notices
        tctx.master.addons.remove(twerr)
        assert legacy.filter(record("twerr.flows"))


def test_streamed_response_is_classified_by_status():
    flow = corpus.make_flow(BY_ID["v1.1-88-rate-limit"])
    flow.response.stream = True
    flow.response.raw_content = None
    classify(flow)
    assert flow.metadata["twerr"]["shape"] == "streamed"
    assert flow.metadata["twerr"]["category"] == "rate_limit"


def test_one_log_line_per_error_flow(caplog):
    caplog.set_level(logging.INFO, logger="twerr")
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        for sample in SAMPLES:
            classifier.response(corpus.make_flow(sample))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("twerr")]
    errors = [s for s in SAMPLES if s.expect.category != "success"]
    assert len(lines) == len(errors)
    assert (
        "POST api.twitter.com/1.1/statuses/update.json → 403 187 Status is a duplicate "
        "[duplicate; a retry cannot help]"
    ) in lines
    assert any(
        line.startswith("GET api.twitter.com/1.1/statuses/user_timeline.json → 429 88 ")
        and line.endswith(
            "[rate_limit; blocked by the 15-minute window (0/900, resets 2022-04-03 09:04:40Z)]"
        )
        for line in lines
    )


def test_no_secret_reaches_any_annotation(caplog):
    caplog.set_level(logging.DEBUG)
    flows = corpus.make_flows()
    for flow in flows:  # put credentials in the query string as well
        flow.request.query["oauth_token"] = corpus.OAUTH_TOKEN
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        for flow in flows:
            classifier.response(flow)
    written = json.dumps([[f.metadata, f.comment, f.marked] for f in flows]) + caplog.text
    for secret in corpus.SECRETS:
        assert secret not in written
    assert "oauth_token" not in written


def test_annotations_survive_a_flow_file():
    flows = corpus.make_flows()
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        for flow in flows:
            classifier.response(flow)
    buffer = io.BytesIO()
    writer = mitmio.FlowWriter(buffer)
    for flow in flows:
        writer.add(flow)
    buffer.seek(0)
    read = list(mitmio.FlowReader(buffer).stream())
    assert [(f.metadata, f.comment, f.marked) for f in read] == [
        (f.metadata, f.comment, f.marked) for f in flows
    ]


def test_non_live_flows_are_classified():
    flow, meta = classified("v2-503-service-unavailable")
    assert flow.live is False
    assert meta["category"] == "server"


def test_summary_at_shutdown(caplog):
    caplog.set_level(logging.INFO, logger="twerr")
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        for sample_id in (
            "v1.1-187-duplicate",
            "v1.1-88-rate-limit",
            "v1.1-429-empty",
            "v2-success-gzip",
        ):
            classifier.response(corpus.make_flow(BY_ID[sample_id]))
        twerr.done()
    tally = "twerr: 4 Twitter API responses: 2 rate_limit, 1 duplicate, 1 success"
    assert tally in [record.getMessage() for record in caplog.records]


def test_no_summary_when_nothing_was_in_scope(caplog):
    caplog.set_level(logging.INFO, logger="twerr")
    twerr = Twerr()
    with taddons.context(twerr):
        twerr.done()
    assert caplog.records == []


@pytest.mark.parametrize(
    "expression,matching_ids",
    [
        ("~marker hourglass", {"v1.1-88-rate-limit", "v2-429-usage-capped", "v1.1-429-empty"}),
        ('~marked & ~comment "^187 "', {"v1.1-187-duplicate"}),
        (
            "~meta \"'category': 'rate_limit'\"",
            {"v1.1-88-rate-limit", "v2-429-usage-capped", "v1.1-429-empty"},
        ),
        ("~meta \"'shape': 'undecodable'\"", {"v1.1-130-truncated"}),
    ],
)
def test_the_filters_the_readme_shows(expression, matching_ids):
    from mitmproxy import flowfilter

    chosen = [
        "v1.1-88-rate-limit",
        "v2-429-usage-capped",
        "v1.1-429-empty",
        "v1.1-187-duplicate",
        "v1.1-130-truncated",
        "v2-success-gzip",
    ]
    matches = flowfilter.parse(expression)
    found = {sample_id for sample_id in chosen if matches(classified(sample_id)[0])}
    assert found == matching_ids


# -- found in review: what reaches flow files, comments and markers ---------------------------


def test_an_undecodable_path_does_not_break_the_flow_file():
    flow = tflow.tflow(
        req=tutils.treq(host="api.twitter.com", port=443, path=b"/2/users/by/username/caf\xe9"),
        resp=tutils.tresp(status_code=404, content=b'{"errors":[{"code":34,"message":"x"}]}'),
    )
    flow.request.headers["host"] = "api.twitter.com"
    classify(flow)
    assert (
        flow.metadata["twerr"]["endpoint"] == "GET api.twitter.com/2/users/by/username/caf\\udce9"
    )
    mitmio.FlowWriter(io.BytesIO()).add(flow)


def test_user_text_after_twerrs_lines_is_kept_and_ours_not_doubled():
    flow = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    classify(flow)
    flow.comment += "\nchecked by Ana"
    classify(flow)
    first = flow.comment
    classify(flow)
    assert first.splitlines() == ["checked by Ana", flow.metadata["twerr"]["comment"]]
    assert flow.comment == first


def test_blank_lines_in_a_comment_are_stable():
    flow = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    flow.comment = "note\n\n"
    classify(flow)
    first = flow.comment
    classify(flow)
    assert flow.comment == first


def test_foreign_twerr_metadata_is_replaced_not_crashed_on():
    flow = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    flow.metadata["twerr"] = "something else"
    classify(flow)
    assert flow.metadata["twerr"]["category"] == "duplicate"


@pytest.mark.parametrize(
    "sample_id,marker",
    [
        ("html-over-capacity-200", ":rotating_light:"),
        ("v2-stream-operational-disconnect", ":information_source:"),
    ],
)
def test_markers_for_errors_inside_a_200(sample_id, marker):
    flow, _ = classified(sample_id)
    assert flow.marked == marker


def test_an_interrupted_stream_is_a_network_failure():
    flow = corpus.make_flow(BY_ID["v2-success-gzip"])
    flow.response.raw_content = None
    flow.error = mitmflow.Error("Client disconnected.")
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        classifier.error(flow)
    assert (flow.metadata["twerr"]["shape"], flow.marked) == ("transport-error", ":rotating_light:")
    assert flow.metadata["twerr"]["status"] == 200


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from([b"GET", b"POST", b"DELETE"]) | st.binary(min_size=1, max_size=8),
    path=st.binary(max_size=40).map(lambda p: b"/" + p),
    host=st.sampled_from([b"api.twitter.com", b"api.x.com:443", b"[::1]", b"\xff.x.com", b""]),
    status=st.integers(100, 599),
    content=st.binary(max_size=200) | st.sampled_from([s.raw_body for s in SAMPLES]),
    comment=st.text(max_size=20),
)
def test_any_flow_stays_storable_and_byte_identical(method, path, host, status, content, comment):
    flow = tflow.tflow(
        req=tutils.treq(method=method, path=path, host="api.twitter.com", port=443),
        resp=tutils.tresp(status_code=status, content=content),
    )
    flow.request.headers["host"] = host.decode("utf-8", "surrogateescape")
    flow.comment = comment
    before = wire_state(flow)
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_scope="~all")
        classifier.response(flow)
    assert wire_state(flow) == before
    buffer = io.BytesIO()
    mitmio.FlowWriter(buffer).add(flow)
    buffer.seek(0)
    (read,) = mitmio.FlowReader(buffer).stream()
    assert read.metadata == flow.metadata and read.comment == flow.comment


# -- found in review: twerr's own metadata, read back from a flow file anyone can edit ---------


def read_back(flow: mitmflow.Flow) -> mitmflow.Flow:
    buffer = io.BytesIO()
    mitmio.FlowWriter(buffer).add(flow)
    buffer.seek(0)
    (read,) = mitmio.FlowReader(buffer).stream()
    return read


@pytest.mark.parametrize(
    "previous",
    [
        {"comment": 5},
        {"injected": "yes"},
        {"injected": {"draw": "0.5"}},
        {"injected": {"fault": "pass", "window": "full"}},
        {"injected": {"fault": "pass", "window": {"limit": 900}}},
    ],
)
def test_edited_twerr_metadata_in_a_flow_file_is_not_trusted(previous: dict) -> None:
    flow = corpus.make_flow(BY_ID["v1.1-187-duplicate"])
    flow.metadata["twerr"] = previous
    read = read_back(flow)
    classify(read)  # as `mitmdump -nr` and `twerr report` do
    assert read.metadata["twerr"]["category"] == "duplicate"  # not left as it was
    assert read.comment.startswith("187 Status is a duplicate")


def test_a_failure_anywhere_in_the_error_hook_is_caught(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(flow: mitmflow.Flow) -> bool:
        raise RuntimeError("the scope failed")

    flow = tflow.tflow(err=True)
    twerr = Twerr()
    classifier = twerr.parts.classifier
    with taddons.context(twerr):
        monkeypatch.setattr(classifier, "scope", boom)
        classifier.error(flow)  # the scope runs before anything else: it must be guarded too
    assert "twerr: Classifier.error failed" in caplog.text
    assert flow.metadata == {}
