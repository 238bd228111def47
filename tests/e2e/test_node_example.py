"""The README's node example: a node test (twitter-api-v2, node --test) that starts `twerr dump`
itself and asks for faults with the X-Twerr-Inject header. Run as the fidelity matrix runs
node (tests/fidelity.py): skipped, with the reason, where node cannot run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fidelity
import twerr
from processes import ROOT
from processes import proxy_free_env

pytestmark = pytest.mark.e2e
EXAMPLE = ROOT / "tests" / "node" / "inject.test.mjs"


def twerr_on_path(tmp_path: Path) -> str:
    """A PATH whose `twerr` is the one under test: beside this Python when twerr is installed
    there, else a stand-in that runs this checkout's twerr with this Python."""
    here = Path(sys.executable).parent
    if not (here / "twerr").exists():
        here = tmp_path / "bin"
        here.mkdir()
        addon = Path(twerr.__file__).parents[1]
        (here / "twerr").write_text(
            f'#!/bin/sh\nPYTHONPATH="{addon}" exec "{sys.executable}" -m twerr "$@"\n'
        )
        (here / "twerr").chmod(0o755)
    return f"{here}{os.pathsep}{os.environ['PATH']}"


def test_the_node_example_passes(tmp_path):
    if reason := fidelity.node_available():
        pytest.skip(f"node cannot run here: {reason}")
    env = {**proxy_free_env(), "PATH": twerr_on_path(tmp_path)}
    done = subprocess.run(
        [shutil.which("node") or "node", "--test", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=EXAMPLE.parent,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^# pass 3$", done.stdout, re.MULTILINE)
    assert re.search(r"^# fail 0$", done.stdout, re.MULTILINE)


def test_the_readme_shows_the_example_as_it_is():
    readme = (ROOT / "README.md").read_text()
    [block] = re.findall(r"```js\n(.*?)```", readme, re.DOTALL)
    example = EXAMPLE.read_text()
    for line in block.splitlines():
        if line.strip() and line.strip() != "// ...":
            assert line in example, line
