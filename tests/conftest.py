"""Prints the tally of hypothesis examples (tests/tally.py) after the run."""

from tally import EXAMPLES


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if EXAMPLES:
        terminalreporter.section("hypothesis examples run")
        for name, count in sorted(EXAMPLES.items()):
            terminalreporter.write_line(f"{count:6d}  {name}")
        terminalreporter.write_line(f"{sum(EXAMPLES.values()):6d}  in all")
