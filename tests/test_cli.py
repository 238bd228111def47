"""`python -m twerr report`: recorded flows in, the report out; broken files said and survived."""

import json
import tracemalloc
import xml.etree.ElementTree as ET

import pytest
from mitmproxy import io as mitmio
from mitmproxy import version
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.io import tnetstring
from mitmproxy.test import tflow
from test_ci import SCHEMA
from test_ci import at

import corpus
from processes import BUNDLED_FLOWS
from snapshots import one_client_session
from twerr.report.cli import FINDINGS_STATUS
from twerr.report.cli import main

HEADLINE = "twerr report: 50 Twitter API responses, 46 errors (46 real, 0 injected)"


def report(capsys, *args) -> tuple[int, str, str]:
    status = main(["report", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_bundled_flows(capsys):
    status, out, err = report(capsys, BUNDLED_FLOWS)
    assert status == 0
    assert out.startswith(HEADLINE)
    assert err == ""


def test_json_and_html_files(capsys, tmp_path):
    status, _, err = report(
        capsys, BUNDLED_FLOWS, "--json", tmp_path / "r.json", "--html", tmp_path / "r.html"
    )
    assert status == 0
    assert json.loads((tmp_path / "r.json").read_text())["errors"] == 46
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert err.splitlines() == [
        f"twerr: report written to {tmp_path / 'r.json'}",
        f"twerr: report written to {tmp_path / 'r.html'}",
    ]


def test_junit_and_markdown_files(capsys, tmp_path):
    junit, markdown = tmp_path / "report.xml", tmp_path / "summary.md"
    status, _, err = report(capsys, BUNDLED_FLOWS, "--junit", junit, "--markdown", markdown)
    assert status == 0
    assert err.splitlines() == [
        f"twerr: report written to {junit}",
        f"twerr: report written to {markdown}",
    ]
    SCHEMA.validate(str(junit))
    assert junit.read_text().count("<testcase ") == 45
    assert markdown.read_text().startswith("## twerr report\n\n**50** Twitter API responses")


def test_a_session_with_findings_as_junit_and_markdown(capsys, tmp_path):
    session, junit, markdown = tmp_path / "s.mitm", tmp_path / "r.xml", tmp_path / "r.md"
    one_client_session(session)  # the corpus as one client's session: findings appear
    assert report(capsys, session, "--junit", junit, "--markdown", markdown)[0] == 0
    data = json.loads(report(capsys, session, "--format", "json")[1])
    SCHEMA.validate(str(junit))
    judged = [cell for cell in data["coverage"] if cell["findings"]]
    assert len(judged) > 5
    failures = {
        case.get("name"): case.find("failure")
        for case in ET.parse(junit).iter("testcase")
        if case.find("failure") is not None
    }
    assert list(failures) == [f"{c['endpoint']} [{c['error']}]" for c in judged]
    for cell in judged:
        failure = failures[f"{cell['endpoint']} [{cell['error']}]"]
        assert failure.get("message").startswith(f"{cell['client']}: ")
        for name, text in cell["examples"].items():
            assert f"- {name} x{cell['findings'][name]} (" in failure.text
            assert text[:100] in failure.text  # what the client did
        elsewhere = not cell["injected"] and not cell["real"]  # 32 or 326 on another endpoint
        assert failure.text.endswith("came from other endpoints.") == elsewhere
    assert any(not cell["injected"] and not cell["real"] for cell in judged)
    summary = markdown.read_text()
    findings = summary.split("### Findings")[1].split("###")[0]
    assert findings.count("\n| `") == len(judged)


def findings_recording(path):
    """A client that retries a 88 ten seconds later, 670 s before the window resets."""
    with path.open("wb") as file:
        writer = mitmio.FlowWriter(file)
        for start in (1648976000.0, 1648976010.0):
            writer.add(at("v1.1-88-rate-limit", start, "alice"))
    return path


def test_fail_on_findings_fails_the_ci_job_after_writing_the_files(capsys, tmp_path):
    recording, junit = findings_recording(tmp_path / "s.mitm"), tmp_path / "r.xml"
    status, out, err = report(capsys, recording, "--junit", junit, "--fail-on-findings")
    assert status == FINDINGS_STATUS == 3
    assert out.startswith("twerr report: 2 Twitter API responses, 2 errors")
    assert err.splitlines() == [f"twerr: report written to {junit}", "twerr: 1 audit findings"]
    SCHEMA.validate(str(junit))
    assert junit.read_text().count("<failure ") == 1
    assert report(capsys, recording)[0] == 0  # without the option, today's exit status
    assert report(capsys, BUNDLED_FLOWS, "--fail-on-findings")[0] == 0  # nothing found


def test_json_on_stdout(capsys):
    status, out, _ = report(capsys, BUNDLED_FLOWS, "--format", "json")
    data = json.loads(out)
    assert (status, data["responses"], data["errors"]) == (0, 50, 46)


def test_a_truncated_file_gives_what_came_before_the_break(capsys, tmp_path):
    data = BUNDLED_FLOWS.read_bytes()
    with BUNDLED_FLOWS.open("rb") as file:
        flows = list(mitmio.FlowReader(file).stream())
    with (tmp_path / "whole.mitm").open("wb") as file:
        writer = mitmio.FlowWriter(file)
        for flow in flows[:10]:
            writer.add(flow)
    cut = tmp_path / "cut.mitm"
    cut.write_bytes((tmp_path / "whole.mitm").read_bytes() + data[:500])  # 10 flows and a stub
    status, out, err = report(capsys, cut)
    assert status == 0
    assert out.startswith("twerr report: 10 Twitter API responses")
    assert err.splitlines() == [
        f"twerr: {cut}: unreadable after flow 10 (Invalid data format.); "
        "the 10 flows before it are reported"
    ]


def test_corrupt_and_missing_files_beside_a_good_one(capsys, tmp_path):
    garbage = tmp_path / "garbage.mitm"
    garbage.write_bytes(b"\x00\x01not a flow file" * 50)
    missing = tmp_path / "missing.mitm"
    status, out, err = report(capsys, garbage, missing, BUNDLED_FLOWS)
    assert status == 0
    assert out.startswith(HEADLINE)
    assert err.splitlines() == [
        f"twerr: {garbage}: unreadable after flow 0 (Invalid data format.); nothing was read",
        f"twerr: {missing}: cannot open: No such file or directory",
    ]


def test_files_that_are_not_flows_or_too_deep_beside_a_good_one(capsys, tmp_path):
    not_a_flow = tmp_path / "dict.mitm"
    with not_a_flow.open("wb") as file:
        tnetstring.dump({"version": version.FLOW_FORMAT_VERSION}, file)  # no "type", no request
    deep = tmp_path / "deep.mitm"
    nested = b"0:]"
    for _ in range(5000):
        nested = b"%d:%s]" % (len(nested), nested)
    deep.write_bytes(nested)
    deep_har = tmp_path / "deep.har"
    deep_har.write_text('{"log": {"entries": [' + "[" * 100_000 + "]" * 100_000 + "]}}")
    status, out, err = report(capsys, not_a_flow, deep, deep_har, BUNDLED_FLOWS)
    assert status == 0
    assert out.startswith(HEADLINE)
    assert err.splitlines() == [
        f"twerr: {not_a_flow}: unreadable after flow 0 (not a flow: KeyError); nothing was read",
        f"twerr: {deep}: unreadable after flow 0 (nested too deeply); nothing was read",
        f"twerr: {deep_har}: unreadable as HAR after entry 0 (an entry is nested too deeply); "
        "nothing was read",
    ]


def test_nothing_readable_is_a_failure(capsys, tmp_path):
    garbage = tmp_path / "garbage.mitm"
    garbage.write_bytes(b"12:not a flow,")
    status, out, err = report(capsys, garbage, tmp_path / "missing.mitm")
    assert status == 1
    assert out == ""
    assert err.splitlines()[-1] == "twerr: no flow could be read"


def test_har_files(capsys, tmp_path):
    har = SaveHar().make_har(corpus.make_flows())
    har["log"]["entries"].insert(3, {"request": "not an entry"})
    path = tmp_path / "session.har"
    path.write_text(json.dumps(har))
    status, out, err = report(capsys, path)
    assert status == 0
    assert out.startswith(HEADLINE)
    assert err.splitlines() == [f"twerr: {path}: HAR entry 3 skipped (KeyError)"]
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {}}')
    assert report(capsys, bad)[2].splitlines()[0] == (
        f"twerr: {bad}: unreadable as HAR after entry 0 (no log.entries array); nothing was read"
    )


def test_a_har_file_that_breaks_off_or_starts_with_blanks(capsys, tmp_path):
    text = json.dumps(SaveHar().make_har(corpus.make_flows()), indent=1)
    cut = tmp_path / "cut.har"
    cut.write_text(text[: len(text) // 2])
    status, out, err = report(capsys, cut)
    read = int(out.split(" Twitter API responses")[0].rsplit(" ", 1)[1])
    assert status == 0 and 10 < read < 40
    assert err.splitlines() == [
        f"twerr: {cut}: unreadable as HAR after entry {read} (an entry is not valid JSON, or "
        f"the file breaks off); the {read} entries before it are reported"
    ]
    padded = tmp_path / "padded.har"
    padded.write_text("\n  " + text)
    assert report(capsys, padded)[1].startswith(HEADLINE)


def test_har_files_are_read_entry_by_entry(capsys, tmp_path):
    small, large = tmp_path / "small.har", tmp_path / "large.har"
    small.write_text(json.dumps(SaveHar().make_har(corpus.make_flows() * 30)))
    large.write_text(json.dumps(SaveHar().make_har(corpus.make_flows() * 60)))
    peak_memory(capsys, small)  # caches filled
    small_peak, large_peak = peak_memory(capsys, small), peak_memory(capsys, large)
    grown = large.stat().st_size - small.stat().st_size
    print(f"peak {small_peak / 1e6:.2f} MB for {small.stat().st_size / 1e6:.1f} MB of HAR, "
          f"{large_peak / 1e6:.2f} MB for {large.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    assert large_peak - small_peak < grown / 20


def test_what_is_not_reported_is_counted(capsys, tmp_path):
    path = tmp_path / "mixed.mitm"
    with path.open("wb") as file:
        writer = mitmio.FlowWriter(file)
        writer.add(corpus.make_flows()[5])
        writer.add(tflow.ttcpflow())
        writer.add(tflow.tflow(resp=True))  # address.com: not the API
        writer.add(tflow.tflow(resp=False))
    status, out, err = report(capsys, path)
    assert (status, out.splitlines()[0][:40]) == (0, "twerr report: 1 Twitter API responses, 1")
    assert err.splitlines() == [
        "twerr: skipped 1 flows that are not HTTP (TCP, UDP, DNS)",
        "twerr: skipped 2 flows outside the scope (not the Twitter/X API; see --scope)",
    ]
    status, out, _ = report(capsys, path, "--scope", "~all")
    assert out.startswith("twerr report: 2 Twitter API responses")


def test_a_bad_scope_is_refused(capsys):
    status, _, err = report(capsys, BUNDLED_FLOWS, "--scope", "~nonsense")
    assert status == 2
    assert err.startswith("twerr: cannot parse --scope '~nonsense'")


def peak_memory(capsys, path) -> int:
    """Bytes allocated at the peak while the report of the file is made."""
    tracemalloc.start()
    try:
        status, out, _ = report(capsys, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 0 and out.startswith("twerr report: ")
    return peak


def recording(path, repeats: int):
    flows = corpus.make_flows()
    with path.open("wb") as file:
        writer = mitmio.FlowWriter(file)
        for i in range(repeats):
            for flow in flows:
                flow.request.timestamp_start = 1.0e9 + i * 10
                writer.add(flow)
    return path


@pytest.mark.timeout(300)
def test_large_files_are_read_in_constant_memory(capsys, tmp_path):
    small, large = recording(tmp_path / "small.mitm", 20), recording(tmp_path / "large.mitm", 60)
    peak_memory(capsys, small)  # caches filled (the catalog, compiled patterns) do not count
    small_peak, large_peak = peak_memory(capsys, small), peak_memory(capsys, large)
    grown = large.stat().st_size - small.stat().st_size
    print(f"peak {small_peak / 1e6:.2f} MB for {small.stat().st_size / 1e6:.1f} MB of flows, "
          f"{large_peak / 1e6:.2f} MB for {large.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    assert large_peak - small_peak < grown / 20
