"""The report: counts over the bundled flows, injected against real, audit findings, the
coverage matrix, and its text, JSON and HTML renderings; the addon's option and commands."""

import json
import logging
import re
from collections import Counter

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

import corpus
from twerr.addon import Twerr
from twerr.report.render import chart_svg
from twerr.report.render import render_html
from twerr.report.render import render_text
from twerr.report.render import write_report
from twerr.report.tables import MAX_ENDPOINTS
from twerr.report.tables import MAX_KINDS
from twerr.report.tables import Report

SAMPLES = corpus.load().responses
BY_ID = {sample.id: sample for sample in SAMPLES}


class Proxy:
    def __init__(self, tctx, twerr):
        self.tctx, self.twerr = tctx, twerr
        self.classifier, self.reporter = twerr.parts.classifier, twerr.parts.reporter

    def send(self, flow):
        self.classifier.response(flow)
        return flow


@pytest.fixture
def proxy():
    twerr = Twerr()
    with taddons.context(twerr) as tctx:
        yield Proxy(tctx, twerr)


def at(sample_id, start, token="alice", **meta):
    flow = corpus.make_flow(BY_ID[sample_id])
    flow.request.headers["authorization"] = f"Bearer {token}"
    flow.request.timestamp_start = start
    flow.response.timestamp_start = flow.response.timestamp_end = start + 0.1
    if meta:
        flow.metadata["twerr"] = meta
    return flow


def bundled_report(proxy):
    for flow in corpus.make_flows():
        proxy.send(flow)
    return proxy.reporter.report.to_dict()


def test_exact_counts_over_the_bundled_flows(proxy):
    data = bundled_report(proxy)
    assert (data["responses"], data["errors"], data["real"], data["injected"]) == (50, 46, 46, 0)
    assert data["findings"] == 0
    expected = Counter(sample.expect.category for sample in SAMPLES)
    assert data["categories"] == dict(expected)
    assert sum(row["count"] for row in data["errors_by_kind"]) == 46
    errors_expected = Counter(s.expect.category for s in SAMPLES if s.expect.category != "success")
    assert {r["category"]: r["count"] for r in data["errors_by_category"]} == errors_expected
    by_kind = {row["error"]: row for row in data["errors_by_kind"]}
    assert by_kind["HTTP 401"]["count"] == 4
    assert by_kind["88"] == {
        "error": "88",
        "label": "88 Rate limit exceeded",
        "category": "rate_limit",
        "statuses": [429],
        "count": 1,
        "injected": 0,
        "real": 1,
        "first_seen": "2026-01-01T00:00:50Z",
        "last_seen": "2026-01-01T00:00:50Z",
        "retry": "after_reset",
        "advice": "retry after the rate-limit reset",
        "findings": {},
        "handled": 0,
        "verdict": "no retry seen",  # each bundled flow is another client's only request
    }
    endpoints = {row["endpoint"]: row for row in data["endpoints"]}
    assert endpoints["GET /2/tweets/search/recent"] == {
        "endpoint": "GET /2/tweets/search/recent",
        "requests": 4,
        "errors": 4,
        "injected": 0,
        "kinds": {"client-forbidden": 1, "HTTP 503": 1, "invalid-request": 1, "HTTP 429": 1},
    }
    assert endpoints["GET /2/users/:id"]["requests"] == 2  # ids fold into one endpoint
    assert sum(row["requests"] for row in data["endpoints"]) == 50
    assert sum(row["real"] for row in data["coverage"]) == 46
    assert (data["first_seen"], data["last_seen"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:08:10Z",
    )
    assert sum(sum(v for k, v in row.items() if k != "minute") for row in data["timeline"]) == 46
    json.dumps(data)  # JSON all the way down


def test_an_error_page_served_inside_a_200_is_named_for_what_it_is(proxy):
    data = bundled_report(proxy)
    by_kind = {row["error"]: row for row in data["errors_by_kind"]}
    assert "HTTP 200" not in by_kind  # not "HTTP 200 OK": nothing about it was OK
    page = by_kind["HTTP 503 page"]
    assert page["label"] == (
        "HTTP 503 Service Unavailable: Twitter / Over capacity (error page served with HTTP 200)"
    )
    assert (page["statuses"], page["category"], page["count"]) == ([200], "server", 1)
    assert by_kind["HTTP 503"]["statuses"] == [503]  # the page served as a 503 is apart


def test_injected_and_real_errors_and_findings(proxy):
    injected = {"injected": {"fault": "88", "phase": "request", "rule": "twerr_inject[0]"}}
    proxy.send(at("v1.1-88-rate-limit", 1648976000.0, **injected))
    proxy.send(at("v1.1-88-rate-limit", 1648976010.0))  # real, and too early
    proxy.send(at("v1.1-success-gzip", 1648976020.0, token="bob"))
    data = proxy.reporter.report.to_dict()
    assert (data["responses"], data["errors"], data["injected"], data["real"]) == (3, 2, 1, 1)
    assert data["findings"] == 1
    (row,) = data["errors_by_kind"]
    assert (row["count"], row["injected"], row["real"]) == (2, 1, 1)
    assert (row["findings"], row["verdict"]) == ({"early-retry": 1}, "retry too early")
    (cell,) = [c for c in data["coverage"] if c["error"] == "88"]
    assert cell == {
        "endpoint": "GET /1.1/statuses/user_timeline.json",
        "error": "88",
        "injected": 1,
        "real": 1,
        "findings": {"early-retry": 1},
        "handled": 0,
        "client": "retry too early",
        "examples": {  # the first text of each finding: what a CI failure says
            "early-retry": "retried 670.0 s before the rate limit resets, after 88 Rate limit "
            "exceeded"
        },
    }


def test_a_client_seen_to_wait_is_handled_well_and_one_never_seen_again_is_no_evidence(proxy):
    proxy.send(at("v1.1-88-rate-limit", 1648976000.0))  # alice: resets at 1648976680
    proxy.send(at("v1.1-187-duplicate", 1648976001.0, token="bob"))  # bob: never seen again
    later = proxy.send(at("v1.1-88-rate-limit", 1648976700.0))  # alice waited for the reset
    assert later.metadata["twerr"]["handled"] == [
        {"error": "88", "endpoint": "GET /1.1/statuses/user_timeline.json"}
    ]
    data = proxy.reporter.report.to_dict()
    verdicts = {row["error"]: (row["handled"], row["verdict"]) for row in data["errors_by_kind"]}
    assert verdicts == {"88": (1, "handled well"), "187": (0, "no retry seen")}
    cells = {c["error"]: (c["handled"], c["client"]) for c in data["coverage"]}
    assert cells == {"88": (1, "handled well"), "187": (0, "no retry seen")}


def test_the_quota_findings_are_tallied_by_name_with_their_verdicts(proxy):
    proxy.send(at("v2-429-usage-capped", 1000.0, token="bob"))
    proxy.send(at("v2-429-usage-capped", 1002.0, token="bob"))  # refused again: quota-retry
    proxy.send(at("v2-429-app-24h-cap", 1665182928.0))
    proxy.send(at("v2-429-app-24h-cap", 1665183229.0))  # at the window's reset: wrong-reset
    data = proxy.reporter.report.to_dict()
    assert data["findings"] == 2
    rows = {row["error"]: (row["findings"], row["verdict"]) for row in data["errors_by_kind"]}
    assert rows == {
        "HTTP 429": ({"wrong-reset": 1}, "waited for the wrong reset"),
        "usage-capped": ({"quota-retry": 1}, "retried a spent quota"),
    }
    cells = {(c["endpoint"], c["error"]): (c["findings"], c["client"]) for c in data["coverage"]}
    assert cells == {
        ("POST /2/users/:id/following", "HTTP 429"): (
            {"wrong-reset": 1},
            "waited for the wrong reset",
        ),
        ("POST /2/tweets", "usage-capped"): ({"quota-retry": 1}, "retried a spent quota"),
    }
    text = render_text(data)
    assert "waited for the wrong reset" in text and "retried a spent quota" in text


def test_the_text_report(proxy):
    text = render_text(bundled_report(proxy))
    lines = text.splitlines()
    assert lines[0] == (
        "twerr report: 50 Twitter API responses, 46 errors (46 real, 0 injected), "
        "0 audit findings, 2026-01-01T00:00:00Z to 2026-01-01T00:08:10Z"
    )
    assert [line for line in lines if line and not line.startswith(" ")][1:] == [
        "Errors by kind",
        "Errors by category",
        "Errors by endpoint",
        "Quotas: which limit refused the requests",
        "Coverage: endpoint x error",
    ]
    quota = next(line for line in lines if "blocked by the 15-minute window" in line)
    assert quota.split()[:5] == ["1", "GET", "/1.1/search/tweets.json", "window", "at"]
    row = next(line for line in lines if " 88 Rate limit exceeded " in line)
    expected = "1 1 0 88 Rate limit exceeded rate_limit 2026-01-01T00:00:50Z 2026-01-01T00:00:50Z"
    assert " ".join(row.split()) == expected + " retry after the rate-limit reset no retry seen"
    long = next(line for line in lines if " 453 " in line)
    assert "…" in long and "developer.twitter.com" not in long  # long messages are cut


def test_the_html_page_is_self_contained(proxy):
    page = render_html(bundled_report(proxy))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\(", page)
    assert "<svg" in page and "Errors by kind" in page and "Coverage: endpoint x error" in page
    assert "https://developer.twitter.com/en/portal/product" in page  # full text in the page


def test_html_escapes_what_came_from_the_wire():
    report = Report()
    meta = {
        "status": 400,
        "status_text": "Bad Request",
        "api": "v1.1",
        "shape": "v1.1-errors",
        "category": "invalid_request",
        "retry": "never",
        "errors": [
            {
                "code": 999,
                "type": None,
                "label": "999 <script>alert(1)</script>",
                "category": "invalid_request",
            }
        ],
        "injected": None,
        "audit": None,
    }
    report.add(meta, method="GET", path="/1.1/<b>x", when=0)
    page = render_html(report.to_dict())
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_chart_has_one_bar_segment_per_slice_and_category():
    timeline = [
        {"minute": "2026-01-01T00:00:00Z", "rate_limit": 2, "server": 1},
        {"minute": "2026-01-01T00:05:00Z", "server": 3},
    ]
    svg = chart_svg(timeline)
    assert svg.count("<rect") == 3
    assert "errors per 1 minute" in svg
    long = [{"minute": f"2026-01-0{d}T00:00:00Z", "server": 1} for d in range(1, 4)]
    assert chart_svg(long).count("<rect") == 3  # two days in at most 60 bars
    assert "errors per 49 minutes" in chart_svg(long)
    assert chart_svg([]) == "<p>No errors.</p>"


def test_endpoints_are_bounded():
    report = Report()
    meta = {"category": "success", "errors": [], "shape": "success", "status": 200}
    for i in range(MAX_ENDPOINTS + 50):
        report.add(meta, method="GET", path=f"/1.1/thing{i}/x.json", when=i)
    assert len(report.endpoints) == MAX_ENDPOINTS + 1
    assert report.endpoints["other endpoints"].requests == 50


# ---- the addon ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,message",
    [
        ("report.txt", r"must end in \.json, \.html, \.xml \(JUnit\) or \.md \(Markdown\)"),
        ("/no/such/r.json", "does not exist"),
    ],
)
def test_a_bad_report_path_is_refused(proxy, tmp_path, value, message):
    good = str(tmp_path / "r.json")
    proxy.tctx.configure(proxy.twerr, twerr_report=good)
    with pytest.raises(exceptions.OptionsError, match=message):
        proxy.tctx.configure(proxy.twerr, twerr_report=value)
    assert proxy.tctx.options.twerr_report == good


def test_the_report_at_exit(proxy, tmp_path, caplog):
    target = tmp_path / "session.html"
    proxy.tctx.configure(proxy.twerr, twerr_report=str(target))
    bundled_report(proxy)
    caplog.set_level(logging.INFO)
    proxy.twerr.done()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("twerr: 50 Twitter API responses: 9 authentication")  # tally
    assert messages[1].startswith("twerr report: 50 Twitter API responses, 46 errors")
    assert messages[2] == f"twerr: report written to {target}"
    assert target.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "name,start", [("session.xml", '<?xml version="1.0"'), ("summary.md", "## twerr report")]
)
def test_the_report_at_exit_as_junit_or_markdown_by_suffix(proxy, tmp_path, name, start):
    target = tmp_path / name
    proxy.tctx.configure(proxy.twerr, twerr_report=str(target))
    bundled_report(proxy)
    proxy.twerr.done()
    assert target.read_text().startswith(start)
    assert "GET /1.1/statuses/user_timeline.json" in target.read_text()


def test_the_commands(proxy, tmp_path):
    bundled_report(proxy)
    assert proxy.twerr.report().startswith("twerr report: 50 Twitter API responses")
    proxy.twerr.save_report(str(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text())["errors"] == 46
    with pytest.raises(exceptions.CommandError, match=r"must end in \.json, \.html"):
        proxy.twerr.save_report(str(tmp_path / "r.csv"))
    assert proxy.tctx.master.commands.call("twerr.report").startswith("twerr report: 50")


def test_what_a_file_kept_from_outside_the_scope_is_left_alone(caplog):
    twerr = Twerr()
    flow = at("v1.1-88-rate-limit", 1.0)
    flow.request.url = "https://example.com/1.1/statuses/user_timeline.json"
    flow.metadata["twerr"] = {"category": "rate_limit"}  # written by some earlier run
    with taddons.context(twerr):
        twerr.response(flow)
    assert twerr.parts.reporter.report.responses == 0
    assert flow.metadata["twerr"] == {"category": "rate_limit"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def a_429(**changes) -> dict:
    meta = {
        "status": 429,
        "status_text": "Too Many Requests",
        "api": "v1.1",
        "shape": "v1.1-errors",
        "category": "rate_limit",
        "retry": "after_reset",
        "errors": [
            {"code": 88, "type": None, "label": "88 Rate limit exceeded", "category": "rate_limit"}
        ],
        "injected": None,
        "audit": None,
        "handled": [],
    }
    return {**meta, **changes}


def test_broken_clocks_are_counted_but_not_dated(tmp_path):
    report = Report()
    for when in (1e12, float("nan"), float("inf"), -5.0, 1648976000.0):
        report.add(a_429(), method="GET", path="/1.1/x.json", when=when)
    data = report.to_dict()
    assert (data["responses"], data["errors"]) == (5, 5)
    assert data["first_seen"] == data["last_seen"] == "2022-04-03T08:53:20Z"
    assert sum(row["rate_limit"] for row in data["timeline"]) == 1
    render_html(data)


def test_undecodable_bytes_in_paths_do_not_break_the_files(tmp_path):
    report = Report()
    report.add(a_429(), method="GET", path="/1.1/\udcff\udcfe.json", when=0)
    for name in ("r.json", "r.html"):
        write_report(report.to_dict(), str(tmp_path / name))
    (row,) = json.loads((tmp_path / "r.json").read_text())["endpoints"]
    assert row["endpoint"] == "GET /1.1/\\udcff\\udcfe.json"


def test_without_the_audit_there_is_no_verdict(proxy):
    proxy.tctx.configure(proxy.twerr, twerr_audit=False)
    data = bundled_report(proxy)
    assert {row["verdict"] for row in data["errors_by_kind"]} == {"not audited"}
    assert {row["client"] for row in data["coverage"]} == {"not audited"}


def test_rare_kinds_beyond_the_cap_share_one_row_and_cell():
    report = Report()
    for code in range(MAX_KINDS + 500):
        errors = [{"code": code, "type": None, "label": str(code), "category": "rate_limit"}]
        report.add(a_429(errors=errors), method="GET", path="/1.1/x.json", when=0)
    assert len(report.kinds) == MAX_KINDS + 1
    assert len(report.cells) == MAX_KINDS + 1
    assert len(report.endpoints["GET /1.1/x.json"].kinds) == MAX_KINDS + 1
