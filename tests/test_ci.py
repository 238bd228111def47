"""The report for CI systems (report/ci.py): the JUnit file validates against the Jenkins xUnit
plugin's junit-10.xsd (tests/junit_schema.py says where it comes from), a test case per
error path that fails, passes or is skipped as the audit judged the client; the Markdown job
summary renders as GitHub renders it (cmark-gfm), whatever text came from the wire."""

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import cmarkgfm
import pytest
import xmlschema
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from mitmproxy.test import taddons

import corpus
from junit_schema import junit_xsd
from tally import EXAMPLES
from twerr.addon import Twerr
from twerr.report.ci import CLASSNAME
from twerr.report.ci import case_name
from twerr.report.ci import plain
from twerr.report.ci import render_junit
from twerr.report.ci import render_markdown
from twerr.report.tables import Report

SCHEMA = xmlschema.XMLSchema(junit_xsd())
BY_ID = {sample.id: sample for sample in corpus.load().responses}
START = 1648976000.0  # v1.1-88-rate-limit's window resets at START + 680


def at(sample_id: str, start: float, token: str):
    flow = corpus.make_flow(BY_ID[sample_id])
    flow.request.headers["authorization"] = f"Bearer {token}"
    flow.request.timestamp_start = start
    flow.response.timestamp_start = flow.response.timestamp_end = start + 0.1
    return flow


def report_of(flows, **options) -> dict:
    twerr = Twerr()
    with taddons.context(twerr) as tctx:
        if options:
            tctx.configure(twerr, **options)
        for flow in flows:
            twerr.parts.classifier.response(flow)
        return twerr.parts.reporter.report.to_dict()


def bundled() -> dict:
    return report_of(corpus.make_flows())


def judged() -> dict:
    """Three error paths, one of each outcome: alice retries a 88 670 s before its reset
    (failed), bob waits a minute after a 130 (handled well: passed), carol's 187 is followed by
    nothing (no retry seen: skipped)."""
    return report_of(
        [
            at("v1.1-88-rate-limit", START, "alice"),
            at("v1.1-88-rate-limit", START + 10, "alice"),
            at("v1.1-130-over-capacity", START, "bob"),
            at("v1.1-130-over-capacity", START + 60, "bob"),
            at("v1.1-187-duplicate", START + 1, "carol"),
        ]
    )


def cases(junit: str) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in ET.fromstring(junit).iter("testcase")}


# ---- JUnit -----------------------------------------------------------------------------------


def test_a_finding_fails_its_error_path_and_a_path_handled_well_passes():
    data = judged()
    junit = render_junit(data)
    SCHEMA.validate(junit)
    root = ET.fromstring(junit)
    (suite,) = root
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    by_name = cases(junit)
    assert list(by_name) == [
        "GET /1.1/statuses/home_timeline.json [130]",
        "GET /1.1/statuses/user_timeline.json [88]",
        "POST /1.1/statuses/update.json [187]",
    ]
    assert {case.get("classname") for case in by_name.values()} == {CLASSNAME}
    assert list(by_name["GET /1.1/statuses/home_timeline.json [130]"]) == []  # passed
    (failure,) = by_name["GET /1.1/statuses/user_timeline.json [88]"]
    assert failure.tag == "failure"
    assert failure.get("type") == "early-retry"
    assert failure.get("message") == "retry too early: early-retry x1 after 88 Rate limit exceeded"
    assert failure.text.splitlines() == [
        "The client's requests to GET /1.1/statuses/user_timeline.json after 88 Rate limit "
        "exceeded (the error says: retry after the rate-limit reset):",
        "- early-retry x1 (retry too early): retried 670.0 s before the rate limit resets, "
        "after 88 Rate limit exceeded",
        "This error here: 0 injected, 2 real; handled well after it: 0.",
    ]
    (skipped,) = by_name["POST /1.1/statuses/update.json [187]"]
    assert (skipped.tag, skipped.get("message")) == (
        "skipped",
        "no retry seen: no later request of the client followed this error, no evidence "
        "either way; 0 injected, 1 real",
    )
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["findings"] == "1" and properties["responses"] == "5"


def test_the_bundled_flows_give_one_skipped_case_per_error_path():
    data = bundled()
    junit = render_junit(data)
    SCHEMA.validate(junit)
    by_name = cases(junit)
    assert list(by_name) == [case_name(c["endpoint"], c["error"]) for c in data["coverage"]]
    assert len(by_name) == len(data["coverage"]) == 45
    assert {child.tag for case in by_name.values() for child in case} == {"skipped"}
    assert "GET /2/users/:id [resource-not-found]" in by_name  # ids folded: the same name


def test_names_do_not_change_with_what_varies_between_runs():
    """CI dashboards track a test by its name: counts, times and messages stay out of it."""
    early = judged()
    later = report_of(
        [
            at("v1.1-88-rate-limit", START + 100, "dave"),
            at("v1.1-88-rate-limit", START + 110, "dave"),
            at("v1.1-88-rate-limit", START + 120, "dave"),
        ]
    )
    name = "GET /1.1/statuses/user_timeline.json [88]"
    first, second = cases(render_junit(early))[name], cases(render_junit(later))[name]
    assert first[0].text != second[0].text  # other counts, other times...
    assert first.get("name") == second.get("name")  # ...the same test case


def test_without_the_audit_every_path_is_skipped_as_not_audited():
    data = report_of(corpus.make_flows()[:10], twerr_audit=False)
    junit = render_junit(data)
    SCHEMA.validate(junit)
    messages = {case[0].get("message").split(":")[0] for case in cases(junit).values()}
    assert messages == {"not audited"}


def test_the_schema_check_has_teeth():
    junit = render_junit(judged())
    for broken in (
        junit.replace(' name="POST /1.1/statuses/update.json [187]"', ""),  # a case needs a name
        junit.replace("<testsuite ", "<testsuite failures2='1' ", 1),
        junit.replace("</testsuites>", "<extra /></testsuites>"),
    ):
        with pytest.raises(xmlschema.XMLSchemaValidationError):
            SCHEMA.validate(broken)


SECRET = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl"


def hostile(endpoint: str, kind: str, label: str, text: str) -> dict:
    """A report whose every wire-borne string is the given text: one failed path, one skipped,
    and a quota and a spend row."""
    data = Report().to_dict()
    finding = {"early-retry": 2, "retry-storm": 1}
    data["errors_by_kind"] = [{"error": kind, "label": label, "advice": text}]
    data["coverage"] = [
        {"endpoint": endpoint, "error": kind, "injected": 1, "real": 2, "findings": finding,
         "handled": 0, "client": "retry too early", "examples": {"early-retry": text}},
        {"endpoint": endpoint + "/x", "error": kind, "injected": 0, "real": 1, "findings": {},
         "handled": 0, "client": "no retry seen", "examples": {}},
    ]  # fmt: skip
    data["quotas"] = [
        {"endpoint": endpoint, "binding": text, "count": 1, "retry_when": text, "last": label}
    ]
    data["spend"] = {
        "usd": 0.5,
        "failed_or_repeated_usd": 0.25,
        "failed_or_repeated_share": 0.5,
        "endpoints": [
            {"endpoint": endpoint, "requests": 2, "usd": 0.5, "failed_usd": 0.25,
             "repeated_usd": 0.0}
        ],
    }  # fmt: skip
    return data


def test_credentials_and_control_characters_never_reach_the_files():
    text = f"Authorization: Bearer {SECRET} oauth_token=abcdef123456 \x00\x1b[31m\ufffe\ud800"
    data = hostile(f"GET /2/{text}", text, text, text)
    for rendered in (render_junit(data), render_markdown(data)):
        assert SECRET not in rendered and "abcdef123456" not in rendered
        assert "<redacted>" in rendered or "&lt;redacted&gt;" in rendered
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\ud800]", rendered)
    SCHEMA.validate(render_junit(data))


# ---- Markdown --------------------------------------------------------------------------------


class Tables(HTMLParser):
    """The tables of rendered HTML: rows of cell texts, header first; and the tags within
    them that are not a table's own."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.tags: set[str] = set()
        self.in_table = self.in_cell = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if self.in_table and tag not in ("tr", "td", "th", "thead", "tbody"):
            self.tags.add(tag)  # a tag made inside a table
        if tag == "table":
            self.tables.append([])
            self.in_table = True
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.in_cell = False
        elif tag == "table":
            self.in_table = False

    def handle_data(self, data):
        if self.in_cell:
            self.tables[-1][-1][-1] += data


def rendered(markdown: str) -> Tables:
    """As GitHub shows it: cmark-gfm with its extensions (tables, autolinks, tag filter)."""
    return Tables(cmarkgfm.github_flavored_markdown_to_html(markdown))


def test_the_job_summary_of_a_judged_session():
    markdown = render_markdown(judged())
    lines = markdown.splitlines()
    assert lines[:5] == [
        "## twerr report",
        "",
        "**5** Twitter API responses, **5** errors (5 real, 0 injected), **1** audit findings; "
        "2022-04-03T08:53:20Z to 2022-04-03T08:54:20Z.",
        "",
        "**3** error paths (endpoint x error): 1 mishandled (failed), 1 handled well (passed), "
        "1 without evidence (skipped).",
    ]
    findings, coverage, quotas = rendered(markdown).tables
    assert findings == [
        ["endpoint", "error", "client", "findings", "what the client did"],
        ["GET /1.1/statuses/user_timeline.json", "88 Rate limit exceeded", "❌ retry too early",
         "early-retry x1",
         "retried 670.0 s before the rate limit resets, after 88 Rate limit exceeded"],
    ]  # fmt: skip
    assert [row[4] for row in coverage] == [
        "client",
        "✅ handled well",
        "❌ retry too early",
        "⚪ no retry seen",
    ]
    assert quotas[1][:3] == ["2", "GET /1.1/statuses/user_timeline.json", "window"]


def test_the_job_summary_of_the_bundled_flows():
    data = bundled()
    markdown = render_markdown(data)
    assert "No audit findings." in markdown
    tables = rendered(markdown).tables
    assert len(tables) == 2  # coverage and quotas; no spend without twerr_credits
    coverage = tables[0]
    assert len(coverage) == 1 + 45
    assert coverage[1:] == [
        [c["endpoint"], c["error"], str(c["injected"]), str(c["real"]), "⚪ no retry seen", ""]
        for c in data["coverage"]
    ]


def test_spend_appears_when_credits_were_spent():
    data = hostile("GET /2/tweets", "402", "402 Payment Required", "credits")
    markdown = render_markdown(data)
    assert "$0.500 of credits spent, 50% on failed or repeated requests." in markdown
    spend = rendered(markdown).tables[-1]
    assert spend == [
        ["requests", "usd", "failed usd", "repeated usd", "endpoint"],
        ["2", "$0.500", "$0.250", "$0.000", "GET /2/tweets"],
    ]


@pytest.mark.parametrize("share", [0.05, 0.5, 0.99])
def test_a_summary_over_the_limit_is_cut_with_a_note(share):
    data = bundled()
    whole = render_markdown(data)
    assert len(whole.encode()) < 1_000_000 and "_Cut here" not in whole  # uncut by default
    limit = int(len(whole.encode()) * share)
    markdown = render_markdown(data, limit=limit)
    assert len(markdown.encode()) <= limit
    assert "_Cut here: a job summary holds at most" in markdown
    left_out = int(re.search(r"; (\d+) more table rows are left out", markdown)[1])
    tables = rendered(markdown).tables
    shown = sum(len(table) - 1 for table in tables)
    assert shown + left_out == len(data["coverage"]) + len(data["quotas"])
    assert all(len(row) == len(table[0]) for table in tables for row in table)


wire = st.text(st.characters(exclude_categories=[]), max_size=60) | st.text(
    st.sampled_from("|\\`*_[]()<>&!~#:-. \n\r\t\x00\x0b\x85\ufffe\ud800\u00a0é🙂aZ"), max_size=30
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint=wire, kind=wire, label=wire, text=wire)
@example(endpoint="GET /2/a|b", kind="`", label="![x](http://e/i.png)", text="<img src=x>")
@example(endpoint="\\|", kind="a\\", label="\\\\|", text="| --- |")
@example(endpoint="` `", kind="``x", label="&amp; *a* _b_ ~~c~~", text="\n| a | b |\n")
def test_any_text_from_the_wire_gives_valid_junit_and_intact_tables(endpoint, kind, label, text):
    EXAMPLES["ci: JUnit and Markdown of hostile text"] += 1
    data = hostile(endpoint, kind, label, text)
    junit = render_junit(data)
    SCHEMA.validate(junit)
    failed, skipped = ET.fromstring(junit).iter("testcase")
    assert failed.get("name") == case_name(endpoint, kind)
    assert (failed[0].tag, skipped[0].tag) == ("failure", "skipped")

    html = rendered(render_markdown(data))
    assert not html.tags & {"img", "script", "em", "strong", "del", "iframe"}
    findings, coverage, quotas, spend = html.tables
    for table in (findings, coverage, quotas, spend):
        assert all(len(row) == len(table[0]) for row in table)  # no cell broke out or in
    # the text itself, not markup: what a reader sees is what came, cleaned
    assert findings[1] == [
        plain(endpoint),
        plain(label) or plain(kind),
        "❌ retry too early",
        "early-retry x2, retry-storm x1",
        plain(text),
    ]
    assert coverage[2][:2] == [plain(endpoint + "/x"), plain(kind)]
    assert quotas[1][1:] == [plain(endpoint), plain(text), plain(text), plain(label)]
    assert spend[1][4] == plain(endpoint)
