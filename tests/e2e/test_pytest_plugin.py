"""twerr's pytest plugin as a bot's test suite meets it: pytester runs a suite that passes and
one that fails, each with real tweepy clients through `twerr_proxy` and a test double of the
API, and every proxy they started is gone afterwards."""

import os
from importlib import metadata
from pathlib import Path

import pytest

import twerr
from processes import still_running

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

SUITE = Path(__file__).with_name("suite")
TESTS = Path(__file__).parents[1]


@pytest.fixture
def suite(pytester, monkeypatch):
    """A pytester folder with the suite's conftest, and the code under test on its path."""
    pytester.makeconftest((SUITE / "suite_conftest.py").read_text())
    addon = Path(twerr.__file__).parents[1]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, (addon, TESTS))))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def run(pytester, name: str) -> pytest.RunResult:
    pytester.makepyfile(**{f"test_{name}": (SUITE / f"{name}.py").read_text()})
    return pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", timeout=300)


def plugin_args() -> list[str]:
    """Installed, twerr registers the plugin itself (the pytest11 entry point). A Python where
    another twerr is installed without it (a shared environment) is told to load it."""
    if metadata.entry_points(group="pytest11", name="twerr"):
        return []
    return ["-p", "twerr.testing.plugin"]


def proxies_left(pytester) -> list[str]:
    """The proxies the suite started that still run or listen, now that it has ended."""
    lines = (pytester.path / "proxies.txt").read_text().splitlines()
    return [line for line in lines if still_running(*map(int, line.split()))]


def test_a_suite_that_passes(suite):
    result = run(suite, "bot_passes")
    result.assert_outcomes(passed=8)
    assert len((suite.path / "proxies.txt").read_text().splitlines()) == 8
    assert proxies_left(suite) == []


def test_a_suite_that_fails_lists_the_findings_and_stops_its_proxies(suite):
    result = run(suite, "bot_fails")
    result.assert_outcomes(failed=2, passed=1)  # the last: the failed tests' proxies are gone
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: twerr's audit flagged 1 request(s):",
            "*POST api.twitter.com/1.1/statuses/update.json: retried a permanent error "
            "(permanent-retry): *",
        ]
    )
    # a failed test's report carries each proxy's report
    result.stdout.fnmatch_lines(["*- twerr proxy http://127.0.0.1:* -*", "twerr report: *"])
    result.stdout.fnmatch_lines(["*RuntimeError: the bot crashed"])
    assert proxies_left(suite) == []  # and still gone once the suite's process has ended
