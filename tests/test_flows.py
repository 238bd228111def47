"""The bundled flows are exactly what scripts/make-flows makes from the corpus."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_flows_are_up_to_date(tmp_path):
    fresh = tmp_path / "fresh.mitm"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_flows.py"), str(fresh)],
        check=True,
        capture_output=True,
    )
    bundled = ROOT / "flows" / "twitter-api.mitm"
    assert fresh.read_bytes() == bundled.read_bytes(), (
        "run scripts/make-flows and commit the result"
    )
