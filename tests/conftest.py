"""Shared by every test module: the tally of hypothesis examples, printed after the run."""

from collections import Counter

EXAMPLES: Counter[str] = Counter()  # property test -> examples it ran (its body's calls)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if EXAMPLES:
        terminalreporter.section("hypothesis examples run")
        for name, count in sorted(EXAMPLES.items()):
            terminalreporter.write_line(f"{count:6d}  {name}")
        terminalreporter.write_line(f"{sum(EXAMPLES.values()):6d}  in all")
