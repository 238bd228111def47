"""A quick run of scripts/bench-hook, so the benchmark cannot rot (its figures are not judged)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_hook import SHAPES  # noqa: E402


def test_bench_hook_prints_a_figure_per_response_shape_through_mitmproxy_and_alone():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_hook.py"), "5"],
        capture_output=True,
        text=True,
        check=True,
    )
    through, alone = result.stdout.split("\n\n")
    rows = through.splitlines()[1:]
    assert [row.split()[0] for row in rows] == SHAPES
    for row in rows:
        base, *added_and_ratios = (float(cell) for cell in row.split()[1:])
        assert base > 0 and all(ratio > 0 for ratio in added_and_ratios[2:]), row
    header, *rows = alone.splitlines()
    assert header.split()[-4:] == ["classify", "+audit", "+report", "all"]
    assert [row.rsplit(maxsplit=4)[0] for row in rows] == [*SHAPES, "5 MB JSON success"]
    assert all(float(cell) > 0 for row in rows for cell in row.rsplit(maxsplit=4)[1:]), rows
