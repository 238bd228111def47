"""The `twerr` command: its help, version and addon path answer at once (no mitmproxy), and
`twerr report` is today's report."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import corpus
import twerr
from processes import BUNDLED_FLOWS
from twerr.cli import main

ADDON = Path(twerr.__file__).parents[1]


def test_version_is_the_package_s(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"twerr {twerr.__version__} (mitmproxy 12.")


def test_the_version_is_written_once():
    pyproject = (ADDON.parent / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'path = "addon/twerr/__init__.py"' in pyproject


def test_addon_path_is_the_script_inside_the_package(capsys):
    assert main(["addon-path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == ADDON / "twerr" / "script" / "twerr_addon.py"
    assert "addons = [Twerr()]" in path.read_text()
    # a checkout's addon/twerr_addon.py is the same file
    assert (ADDON / "twerr_addon.py").resolve() == path.resolve()


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_help_lists_the_commands(capsys, args):
    assert main(args) == 0
    out = capsys.readouterr().out
    for command in ("dump", "web", "report", "addon-path", "--version"):
        assert command in out


def test_no_command_or_an_unknown_one_is_refused(capsys):
    assert main([]) == 2
    assert "usage: twerr COMMAND" in capsys.readouterr().err
    assert main(["dupm"]) == 2
    assert capsys.readouterr().err.startswith("twerr: unknown command 'dupm'\nusage:")


def test_report_is_the_report_command(capsys):
    assert main(["report", str(BUNDLED_FLOWS), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["responses"] == len(corpus.load().responses)


def test_the_quick_commands_import_nothing_from_mitmproxy():
    check = (
        "import sys; from twerr.cli import main; main(['--version']); main(['addon-path']); "
        "print(sorted(m for m in sys.modules if m.startswith('mitmproxy')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ADDON)},
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_python_m_twerr_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "twerr", "--version"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ADDON)},
    )
    assert (done.returncode, done.stdout.split()[:2]) == (0, ["twerr", twerr.__version__])
