"""The injection rules in force, where each came from, and their counters.

Rules come from the `twerr_inject` option, a `twerr_rules` file (reloaded when it changes) and
the `twerr.inject` / `twerr.next` commands; they are tried in that order, `twerr.next` rules
first. A rule that is given again (a refused option change rolled back, a file edited
elsewhere) keeps its counters, so nothing is re-armed by accident.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

from twerr.inject import clock
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import load_rules_file
from twerr.inject.rules import parse_spec

logger = logging.getLogger("twerr.inject")

POLL_SECONDS = 1.0  # how often the rules file is looked at
Stamp = tuple[int, int] | None  # a file's mtime and size, None when it cannot be read


class RuleSet:
    def __init__(self) -> None:
        self.option_rules: list[ActiveRule] = []
        self.file_rules: list[ActiveRule] = []
        self.command_rules: list[ActiveRule] = []  # twerr.next rules first, then twerr.inject
        self.finished: list[ActiveRule] = []  # twerr.next rules that fired, for the summary
        self.file: Path | None = None
        self.stamp: Stamp = None
        self.rules: list[ActiveRule] = []  # all of them, in the order they are tried
        self.on_change: Callable[[], None] | None = None  # told whenever `rules` changes

    def configure(self, specs: Sequence[str] | None, file: str | None) -> None:
        """New option values (None: unchanged). Everything is checked before anything
        changes: a refused update finds the rules, and their counters, as they were.
        ValueError names the problem."""
        option_rules = self.option_rules if specs is None else self._parse_option(specs)
        if file is not None:
            path = Path(file).expanduser() if file else None
            try:
                file_rules, stamp = self._read_file(path) if path else ([], None)
            except (ValueError, RecursionError) as e:
                raise ValueError(f"Cannot load twerr_rules file: {e}") from None
            self.file, self.file_rules, self.stamp = path, file_rules, stamp
        self.option_rules = option_rules
        self._changed()

    def _parse_option(self, specs: Sequence[str]) -> list[ActiveRule]:
        kept = {(a.origin, a.rule.describe()): a for a in self.option_rules}
        rules = []
        for index, spec in enumerate(specs):
            try:
                rule = parse_spec(spec)
            except ValueError as e:
                raise ValueError(f"Cannot parse twerr_inject option {spec!r}: {e}") from None
            origin = f"twerr_inject[{index}]"
            rules.append(
                kept.get((origin, rule.describe())) or ActiveRule(rule, origin, clock.now())
            )
        return rules

    def _read_file(self, path: Path) -> tuple[list[ActiveRule], Stamp]:
        stamp = _stamp(path)
        loaded = clock.now()
        # A rule the file still holds keeps its counters (and its ttl's start): an edit of
        # one rule, or a refused change rolled back, does not re-arm the others.
        kept: dict[tuple[str, str | None], list[ActiveRule]] = {}
        for active in self.file_rules:
            kept.setdefault((active.rule.describe(), active.rule.name), []).append(active)
        rules = []
        for rule, where in load_rules_file(path):
            same = kept.get((rule.describe(), rule.name))
            active = same.pop(0) if same else ActiveRule(rule, where, loaded)
            active.origin = where
            rules.append(active)
        return rules, stamp

    def reload(self) -> bool:
        """Read the rules file again if it changed; a broken file keeps the rules in force.
        True when the rules changed."""
        if self.file is None or (stamp := _stamp(self.file)) == self.stamp:
            return False
        try:
            self.file_rules, self.stamp = self._read_file(self.file)
        except (ValueError, RecursionError) as e:
            self.stamp = stamp  # say it once per change, not once a second
            logger.error(f"twerr_rules: {e}; keeping the {len(self.file_rules)} rule(s) in force")
            return False
        logger.info(f"twerr_rules: reloaded {len(self.file_rules)} rule(s) from {self.file.name}")
        self._changed()
        return True

    async def watch(self, changed: Callable[[], None]) -> None:
        """Look at the rules file every second and reload it when it changed (the injector
        runs this as a task while mitmproxy runs)."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                if self.reload():
                    changed()
            except Exception:  # never let one bad read end the watching
                logger.exception("twerr_rules: reloading failed; keeping the rules in force")

    def add(self, spec: str, origin: str, *, once: bool) -> None:
        """A command's rule; ValueError names what is wrong with the spec."""
        try:
            rule = parse_spec(spec)
        except ValueError as e:
            raise ValueError(f"Cannot parse {origin} spec {spec!r}: {e}") from None
        logger.info(f"twerr: {origin} {rule.describe()}")
        active = ActiveRule(rule, origin, clock.now(), once=once)
        if once:  # twerr.next rules come first, in the order given, before twerr.inject rules
            self.command_rules.insert(self._next_rules(), active)
        else:
            self.command_rules.append(active)
        self._changed()

    def clear(self) -> None:
        """Forget every rule (the options that held some are emptied by the caller)."""
        self.command_rules, self.option_rules, self.file_rules = [], [], []
        self.file, self.stamp = None, None
        self._changed()

    def retire(self, active: ActiveRule) -> None:
        """A twerr.next rule leaves the rules once it has fired (the summary keeps it)."""
        if active.once and active.spent and active in self.command_rules:
            self.command_rules.remove(active)
            self.finished.append(active)
            self._changed()

    def undo(self, active: ActiveRule, reason: str) -> None:
        """Take back a decision to inject that was not carried out."""
        active.skip(reason)
        if active in self.finished:  # a twerr.next rule gets its chance back
            self.finished.remove(active)
            self.command_rules.insert(self._next_rules(), active)
            self._changed()

    def summary(self) -> list[str]:
        stamp = clock.now()
        return [f"twerr: {active.summary(stamp)}" for active in [*self.finished, *self.rules]]

    def _next_rules(self) -> int:
        return sum(1 for a in self.command_rules if a.once)

    def _changed(self) -> None:
        self.rules = [*self.command_rules, *self.option_rules, *self.file_rules]
        if self.on_change is not None:
            self.on_change()


def _stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
