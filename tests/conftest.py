"""Chooses how hypothesis draws its examples, and prints the tally of examples run
(tests/tally.py) after the run.

CI sets TWERR_HYPOTHESIS=ci: the same examples every run, so what lands is judged on the code,
not on the draw. Anywhere else each run draws new ones, and a failure it finds is kept in
.hypothesis/ and tried first next time.
"""

import os

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
