"""The line mitmdump prints for each error flow (logger `twerr.flows`), with repeats counted.

A client that hammers a spent rate-limit window gets the same error on every request: a line
for each would bury everything else on the terminal, and printing it would be most of what
twerr costs such a flow. A line that comes again within `REPEAT_SECONDS` of being printed is
counted instead; the next time it is printed it says how many there were, and what is still
uncounted is said when mitmproxy stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("twerr.flows")

REPEAT_SECONDS = 10.0
MAX_LINES = 1_000  # distinct lines remembered; the oldest are forgotten beyond this


@dataclass(slots=True)
class _Printed:
    at: float
    level: int
    text: str
    repeats: int = 0  # times it came again since, not printed


class FlowLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.printed: dict[str, _Printed] = {}

    def say(self, level: int, key: str, text: str) -> None:
        """Print `text`, unless a line of the same `key` was printed moments ago."""
        if not logger.isEnabledFor(level):
            return
        now = self.clock()
        before = self.printed.pop(key, None)
        if before is not None and now - before.at < REPEAT_SECONDS:
            before.repeats += 1
            self.printed[key] = before
            return
        self.printed[key] = _Printed(now, level, text)
        if len(self.printed) > MAX_LINES:
            self._say_repeats(self.printed.pop(next(iter(self.printed))))
        if before is not None and before.repeats:
            text = f"{text} ({before.repeats} more like it since it was last printed)"
        logger.log(level, text)

    def flush(self) -> None:
        """Say the repeats not yet said (when mitmproxy stops)."""
        for line in self.printed.values():
            self._say_repeats(line)
        self.printed.clear()

    @staticmethod
    def _say_repeats(line: _Printed) -> None:
        if line.repeats:
            logger.log(line.level, f"{line.text} ({line.repeats} more like it since)")
