"""A quick run of scripts/bench-hook, so the benchmark cannot rot (its figures are not judged)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_hook_prints_a_figure_per_response_shape_and_for_the_injector():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_hook.py"), "5"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == 9
    assert rows[-1].startswith("injector, 20 rules, none match")
    for row in rows:
        name, figure = row.rsplit(maxsplit=1)
        assert float(figure) > 0, name
