"""What twerr writes on the bundled flows, as users get it: a real `mitmdump -nr` pass over
each flow file, and `twerr report --format json` on it. tests/test_snapshot.py compares that
with tests/data/metadata-snapshot.json, taken before the redesign, so a reshaped twerr must
give the same metadata, comments, markers and report as before.

`python tests/snapshots.py --write` writes the snapshot anew: do it only in the commit of a
change that alters what twerr writes on purpose, and say so in its message.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mitmproxy import io

import corpus
from processes import BUNDLED_FLOWS
from processes import ROOT
from processes import SCRIPT
from processes import proxy_free_env
from processes import run_mitmdump

SNAPSHOT = ROOT / "tests" / "data" / "metadata-snapshot.json"


def one_client_session(path: Path) -> None:
    """The corpus's flows as one client's session, a second apart: the audit judges each
    request against what that client was told before, so findings appear."""
    flows = corpus.make_flows()
    token = corpus.REQUEST_HEADERS["authorization"]
    with path.open("wb") as file:
        writer = io.FlowWriter(file)
        for flow in flows:
            flow.request.headers["authorization"] = token
            writer.add(flow)


def annotations(flow_file: Path) -> dict[str, Any]:
    """flow id -> what twerr wrote on it, after a mitmdump pass over the file."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.mitm"
        done = run_mitmdump("-n", "-q", "-r", str(flow_file), "-s", str(SCRIPT), "-w", str(out))
        assert done.returncode == 0, done.stderr
        with out.open("rb") as file:
            return {
                flow.id: {
                    "twerr": flow.metadata.get("twerr"),
                    "comment": flow.comment,
                    "marked": flow.marked,
                }
                for flow in io.FlowReader(file).stream()
            }


def report(flow_file: Path) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "twerr", "report", "--format", "json", str(flow_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**proxy_free_env(), "PYTHONPATH": str(ROOT / "addon")},
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def take() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        session = Path(folder) / "one-client.mitm"
        one_client_session(session)
        return {
            "bundled": annotations(BUNDLED_FLOWS),
            "bundled report": report(BUNDLED_FLOWS),
            "one client": annotations(session),
            "one client report": report(session),
        }


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/snapshots.py --write")
    SNAPSHOT.write_text(json.dumps(take(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {SNAPSHOT}")
