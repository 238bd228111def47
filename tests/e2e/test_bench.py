"""Quick runs of the benchmarks, so they cannot rot (their figures are not judged here)."""

import subprocess
import sys

from processes import ROOT
from processes import proxy_free_env


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
    rows = [line for line in lines if line.startswith(("small", "gzip", "v2 partial", "5 MB"))]
    assert len(rows) == 5
    for row in rows:
        figures = row.split()
        assert any(figure.replace(".", "").isdigit() for figure in figures), row
    assert sum(line.startswith("RSS after the run") for line in lines) == 4


def test_the_memory_check_reports_its_growth():
    lines = run("bench_memory.py", "12000")
    assert lines[0].startswith("after   10000 flows: RSS")
    assert any(line.startswith("growth after the warm-up:") for line in lines)
    assert lines[-2].startswith("rate-limit windows kept:")
    assert lines[-1].startswith("audit entries kept:")
