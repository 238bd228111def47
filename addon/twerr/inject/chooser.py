"""Which rule fires for a request, if any: the rules in the order they are tried, or the
request's own `X-Twerr-Inject` header. Every probability is drawn from one random sequence,
seeded from `twerr_seed` (or at random, and logged), so a session can be replayed."""

from __future__ import annotations

import logging
import random

from mitmproxy import http

from twerr.inject import clock
from twerr.inject.matcher import Facts
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import Decision
from twerr.inject.rules import parse_header
from twerr.options import HEADER

logger = logging.getLogger("twerr.inject")

Choice = tuple[ActiveRule, Decision]


class Chooser:
    def __init__(self) -> None:
        self.seed = random.SystemRandom().randrange(2**32)
        self.seed_option: int | None = None  # the twerr_seed value self.seed comes from
        self.rng = random.Random(self.seed)
        self.seed_logged = False
        self.header_on = False  # twerr_inject_header
        self.header_injections = 0

    def reseed(self, option: int | None) -> None:
        """A new twerr_seed. Only a new value reseeds: a refused update re-applies the old
        one, and that must not restart the sequence (nor draw another random seed)."""
        if option == self.seed_option:
            return
        self.seed_option = option
        self.seed = option if option is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.seed_logged = False

    def log_seed(self, rules: int) -> None:
        self.seed_logged = True
        logger.info(
            f"twerr: {rules} injection rule(s), seed {self.seed} "
            f"(replay with --set twerr_seed={self.seed})"
        )

    def choose(self, flow: http.HTTPFlow, rules: list[ActiveRule]) -> Choice | None:
        stamp = clock.now()
        if self.header_on and HEADER in flow.request.headers:
            return self._from_header(flow, stamp)
        facts = Facts(flow)
        for active in rules:
            if active.matches(flow, facts):
                decision = active.consider(stamp, self.rng)
                if decision is not None:
                    return active, decision
        return None

    def _from_header(self, flow: http.HTTPFlow, stamp: float) -> Choice | None:
        value = flow.request.headers.pop(HEADER)
        try:
            active = ActiveRule(parse_header(value), HEADER, stamp)
        except ValueError as e:
            logger.warning(f"twerr: ignored {HEADER}: {value!r}: {e}")
            return None
        decision = active.consider(stamp, self.rng)
        return (active, decision) if decision is not None else None

    def injecting(self, active: ActiveRule) -> None:
        """The chosen rule's fault is going ahead: the seed is said before the first one."""
        if active.origin == HEADER:
            self.header_injections += 1
        if not self.seed_logged:
            self.seed_logged = True
            logger.info(f"twerr: injecting with seed {self.seed} (replay: twerr_seed={self.seed})")

    def wants_buffering(self, flow: http.HTTPFlow, rules: list[ActiveRule]) -> bool:
        """Whether a rule, or the header, may ask for a fault on this request (its body must
        then be buffered: a streamed one would reach the API before the request hook)."""
        if self.header_on and HEADER in flow.request.headers:
            return True
        facts = Facts(flow)
        return any(active.matches(flow, facts) for active in rules)
