"""twerr installed as a tool: the wheel `python -m build` makes, installed into a fresh venv
(with its dependencies from the package index, no checkout on the path), and every command it
brings run from outside the checkout: twerr --version, addon-path, dump, web, report, python -m
twerr, mitmdump -s "$(twerr addon-path)", and the pytest plugin found through its entry point.
Built and installed once for the module."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import corpus
from processes import BUNDLED_FLOWS
from processes import ROOT
from processes import free_port
from processes import proxy_free_env

pytestmark = pytest.mark.e2e
VERSION = re.search(r'__version__ = "(.+)"', (ROOT / "addon/twerr/__init__.py").read_text())[1]
DUPLICATE = "POST api.twitter.com/1.1/statuses/update.json → 403 187 Status is a duplicate"
FIXTURE_TEST = """
import ssl
import urllib.error
import urllib.request

import pytest


def test_the_fixture_comes_with_the_package(twerr_proxy):
    proxy = twerr_proxy(inject=[":~u /1.1/statuses/update:187"])
    tls = ssl.create_default_context(cafile=proxy.ca_path)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proxy.url}), urllib.request.HTTPSHandler(context=tls)
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open("https://api.twitter.com/1.1/statuses/update.json", data=b"status=hi")
    assert raised.value.code == 403
    assert proxy.flows[-1].metadata["twerr"]["errors"][0]["code"] == 187
"""


class Installed:
    def __init__(self, work: Path, wheel: Path) -> None:
        self.work, self.wheel = work, wheel
        self.bin = work / "venv" / "bin"
        self.env = proxy_free_env()
        self.env.pop("PYTHONPATH", None)
        self.env["PATH"] = f"{self.bin}{os.pathsep}{self.env['PATH']}"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A command of the venv's, run outside the checkout."""
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.work,
            env=self.env,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    missing = [m for m in ("build", "hatchling") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed here (pip install -e .[test])")
    work = tmp_path_factory.mktemp("wheel")
    env = proxy_free_env()  # a proxy a test set for itself must not carry the install
    python = [sys.executable]

    def step(*args: str) -> None:
        done = subprocess.run([*python, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, f"{args}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"

    step("-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(ROOT))
    [wheel] = (work / "dist").glob("twerr-*.whl")
    step("-m", "venv", "--without-pip", str(work / "venv"))
    step(
        "-m",
        "pip",
        "--python",
        str(work / "venv" / "bin" / "python"),
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-c",
        str(ROOT / "constraints.txt"),
        str(wheel),
        "pytest",
    )
    return Installed(work, wheel)


def test_the_wheel_holds_the_package_its_script_and_its_entry_points(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"twerr-{VERSION}.dist-info"
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert installed.wheel.name == f"twerr-{VERSION}-py3-none-any.whl"
    assert {"twerr/script/twerr_addon.py", "twerr/catalog/catalog.toml"} <= names
    assert not [name for name in names if name.startswith(("tests/", "addon/"))]
    assert "[console_scripts]\ntwerr = twerr.cli:main" in entry_points
    assert "[pytest11]\ntwerr = twerr.testing.plugin" in entry_points


def test_version_from_one_source(installed):
    for command in (["twerr", "--version"], ["python", "-m", "twerr", "--version"]):
        done = installed.run(*command)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"twerr {VERSION} (mitmproxy 12.")
    done = installed.run(
        "python", "-c", "from importlib import metadata as m; print(m.version('twerr'))"
    )
    assert done.stdout.strip() == VERSION


def test_addon_path_works_from_any_folder(installed):
    done = installed.run("twerr", "addon-path")
    path = Path(done.stdout.strip())
    assert path.is_file() and installed.work / "venv" in path.parents
    done = installed.run(
        "mitmdump",
        "-n",
        "-r",
        str(BUNDLED_FLOWS),
        "-s",
        str(path),
        "--flow-detail",
        "0",
        "--set",
        f"confdir={installed.work / 'conf'}",
    )
    assert done.returncode == 0, done.stderr
    assert DUPLICATE in done.stdout


def test_twerr_dump(installed):
    done = installed.run(
        "twerr",
        "dump",
        "-n",
        "-r",
        str(BUNDLED_FLOWS),
        "--flow-detail",
        "0",
        "--set",
        f"confdir={installed.work / 'conf'}",
    )
    assert done.returncode == 0, done.stderr
    assert DUPLICATE in done.stdout
    assert f"twerr report: {len(corpus.load().responses)} Twitter API responses" in done.stdout


def test_twerr_report(installed):
    done = installed.run("twerr", "report", str(BUNDLED_FLOWS), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["responses"] == len(corpus.load().responses)


def test_twerr_web_has_the_comment_column(installed):
    web, password = free_port(), "twerr-wheel"
    log = installed.work / "web.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                str(installed.bin / "twerr"),
                "web",
                "--web-host",
                "127.0.0.1",
                "--web-port",
                str(web),
                "--no-web-open-browser",
                "--listen-host",
                "127.0.0.1",
                "--listen-port",
                str(free_port()),
                "--set",
                f"web_password={password}",
                "--set",
                f"confdir={installed.work / 'conf'}",
            ],
            cwd=installed.work,
            env=installed.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{web}/options", headers={"Authorization": f"Bearer {password}"}
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    options = json.load(answer)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert "comment" in options["web_columns"]["value"]
        assert "twerr_inject" in options  # twerr is loaded
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_pytest_plugin_comes_with_the_package(installed):
    suite = installed.work / "suite"
    suite.mkdir()
    (suite / "test_fixture.py").write_text(FIXTURE_TEST)
    done = subprocess.run(
        [str(installed.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=suite,
        env=installed.env,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout
