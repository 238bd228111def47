"""Quick runs of the benchmarks, so they cannot rot (their figures are not judged here), and
what a workload is there to measure, checked where it is not plain from its requests."""

import shutil
import subprocess
import sys

import pytest
from mitmproxy import io as mitmio

from fakeapi import FakeApi
from processes import ROOT
from processes import proxy_free_env
from processes import reverse_proxy_args

sys.path.insert(0, str(ROOT / "scripts"))

from bench import WORKLOADS
from bench import drive


def run(script: str, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=proxy_free_env(),
    )
    return result.stdout.splitlines()


def test_the_proxy_benchmark_prints_a_row_per_workload():
    lines = run("bench.py", "--quick")
    rows = [line for line in lines if line.startswith(tuple(WORKLOADS))]
    assert len(rows) == len(WORKLOADS)
    for row in rows:
        figures = row.split()
        assert any(figure.replace(".", "").isdigit() for figure in figures), row
    assert sum(line.startswith("RSS after the run") for line in lines) == 4


def test_in_the_spent_window_workload_twerr_finds_every_retry_early(mitmdump, tmp_path):
    out = tmp_path / "spent.mitm"
    with FakeApi() as api:
        proxy = mitmdump(*reverse_proxy_args(api.port, out))
        drive(proxy.port, WORKLOADS["spent 429/88 window, one credential"], 5)
        proxy.stop()
    with out.open("rb") as file:
        flows = list(mitmio.FlowReader(file).stream())
    assert [flow.response.status_code for flow in flows] == [429] * 5
    findings = [flow.metadata["twerr"]["audit"] for flow in flows]
    assert findings[0] is None
    assert [finding["finding"] for finding in findings[1:]] == ["early-retry"] * 4


def test_the_memory_check_reports_its_growth():
    lines = run("bench_memory.py", "12000")
    assert lines[0].startswith("after   10000 flows: RSS")
    assert any(line.startswith("growth after the warm-up:") for line in lines)
    assert lines[-2].startswith("rate-limit windows kept:")
    assert lines[-1].startswith("audit entries kept:")


def test_the_parts_benchmark_counts_each_step_for_both_kinds_of_flow():
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        pytest.skip("valgrind is not installed: scripts/bench-parts counts under callgrind")
    lines = run("bench_parts.py", "10")
    header = next(i for i, line in enumerate(lines) if line.startswith("step"))
    rows = [line.rsplit(maxsplit=4) for line in lines[header + 1 :]]
    assert [row[0] for row in rows][-1] == "twerr's hooks, all" and len(rows) == 8
    success = [float(row[1]) for row in rows]
    hammer = [float(row[3]) for row in rows]
    assert success[-1] > success[0] > 0 and hammer[-1] > hammer[0] > 0
    assert hammer[5] - hammer[4] > success[5] - success[4]  # the audit's findings cost more
