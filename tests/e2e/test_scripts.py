"""The README's first command, as a newcomer runs it."""

import subprocess
from collections import Counter

import pytest

import corpus
from processes import ROOT
from processes import proxy_free_env

pytestmark = pytest.mark.e2e


def test_scripts_run_prints_the_decoded_bundled_flows():
    result = subprocess.run(
        [str(ROOT / "scripts" / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env=proxy_free_env(),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    samples = corpus.load().responses
    errors = [s for s in samples if s.expect.category != "success"]
    decoded = [line for line in lines if " → " in line]
    assert len(decoded) == len(errors)
    assert decoded[0] == (
        "POST api.twitter.com/1.1/statuses/update.json → 403 187 Status is a duplicate "
        "[duplicate; a retry cannot help]"
    )
    tally = Counter(s.expect.category for s in samples)
    (summary,) = [line for line in lines if line.startswith("twerr: ")]
    assert summary.startswith(f"twerr: {len(samples)} Twitter API responses: ")
    assert f"{tally['rate_limit']} rate_limit" in summary
    assert any(line.startswith(f"twerr report: {len(samples)} Twitter API") for line in lines)
    assert (ROOT / "out" / "annotated.mitm").stat().st_size > 0


def test_scripts_report_reads_recorded_flows(tmp_path):
    html = tmp_path / "report.html"
    result = subprocess.run(
        [
            str(ROOT / "scripts" / "report"),
            str(ROOT / "flows" / "twitter-api.mitm"),
            "--html",
            html,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=proxy_free_env(),
    )
    assert result.returncode == 0, result.stderr
    samples = corpus.load().responses
    errors = sum(1 for s in samples if s.expect.category != "success")
    assert result.stdout.startswith(
        f"twerr report: {len(samples)} Twitter API responses, {errors} errors"
    )
    assert result.stderr == f"twerr: report written to {html}\n"
    assert "<svg" in html.read_text()
