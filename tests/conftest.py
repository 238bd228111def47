"""Chooses how hypothesis draws its examples, and prints the tally of examples run
(tests/tally.py) after the run.

CI sets TWERR_HYPOTHESIS=ci: the same examples every run, so what lands is judged on the code,
not on the draw. Anywhere else each run draws new ones, and a failure it finds is kept in
.hypothesis/ and tried first next time.
"""

import os

import pytest
from hypothesis import settings

from tally import EXAMPLES

PROFILE = os.environ.get("TWERR_HYPOTHESIS", "explore")
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(PROFILE)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if EXAMPLES:
        how = "the same examples every run" if PROFILE == "ci" else "new examples each run"
        terminalreporter.section(f"hypothesis examples run ({PROFILE}: {how})")
        for name, count in sorted(EXAMPLES.items()):
            terminalreporter.write_line(f"{count:6d}  {name}")
        terminalreporter.write_line(f"{sum(EXAMPLES.values()):6d}  in all")


@pytest.fixture
def proxy_factory():
    """Twerr in mitmproxy's addon machinery (taddons), fed flows hook by hook (see
    test_inject.Proxy); every context is closed at teardown."""
    from mitmproxy.test import taddons
    from test_inject import Proxy

    from twerr.addon import Twerr

    contexts = []

    def start(**options) -> Proxy:
        twerr = Twerr()
        tctx = taddons.context(twerr)
        contexts.append(tctx)
        tctx.configure(twerr, **{"twerr_seed": 1, **options})
        return Proxy(tctx, twerr)

    yield start
    for tctx in contexts:
        tctx.__exit__(None, None, None)
