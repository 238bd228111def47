"""The emulated wallet on live flows (`twerr_credits`): each successful answer of a priced
endpoint is charged as X charges it, and once the credits are spent every API request gets
the 402 X sends, until the wallet is filled again (`twerr.credits` or the option).

Charged on the API's own answer, before any response-phase fault replaces it: a client that
loses the answer has still paid for it, as with X.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from twerr import mitm
from twerr import record
from twerr.catalog.quotas import load_prices
from twerr.inject import clock
from twerr.inject.answer import answer
from twerr.inject.forge import DAY_SECONDS
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import Rule
from twerr.inject.wallet import Wallet
from twerr.inject.windows import credential
from twerr.inject.windows import fingerprint
from twerr.record import CostRecord
from twerr.record import InjectedRecord

logger = logging.getLogger("twerr.inject")
CREDITS_FAULT = "credits"  # X's 402 CreditsDepleted problem
V2 = "/2/"
TOKEN_ENDPOINT = "/2/oauth2/"  # getting a token is not a paid API request


class Billing:
    def __init__(self) -> None:
        self.wallet = Wallet()
        self.refusal: ActiveRule | None = None  # the 402, as a rule of its own (its counts)
        self.filled_with: str | None = None  # the twerr_credits text the wallet was filled with

    def configure(self, text: str) -> None:
        """twerr_credits: dollars, or empty for no wallet. Raises ValueError naming the fault.
        The value the wallet holds already (mitmproxy re-applies it when it rolls back a refused
        change) leaves the wallet as it is: only a new value fills it anew."""
        usd = parse_credits(text)
        if text == self.filled_with:
            return
        self.filled_with = text
        self.wallet.fill(usd)
        self.refusal = None
        if usd is not None:
            self.refusal = ActiveRule(Rule(fault=CREDITS_FAULT), "twerr_credits", clock.now())
            logger.info(f"twerr: wallet filled with ${usd:g} of credits")

    def refuse(self, flow: http.HTTPFlow, seed: int) -> bool:
        """An API request once the credits are spent: answered with X's 402."""
        if not self.wallet.empty or self.refusal is None:
            return False
        path = flow.request.path
        if not path.startswith(V2) or path.startswith(TOKEN_ENDPOINT):
            return False
        answer(flow, self.refusal, seed)
        self.refusal.injected += 1
        injected: InjectedRecord = {
            "rule": "twerr_credits",
            "spec": f"credits spent (balance ${self.wallet.balance:.4f})",
            "fault": CREDITS_FAULT,
            "phase": "request",
            "seed": seed,
            "match": self.refusal.injected,
            "injection": self.refusal.injected,
            "draw": None,
        }
        record.set_injected(flow, injected)
        return True

    def bill(self, flow: http.HTTPFlow) -> None:
        """Charge the API's successful answer, if its endpoint is priced."""
        response, request = flow.response, flow.request
        if response is None or not 200 <= response.status_code < 300:
            return
        price = load_prices().find(request.method, request.path)
        if price is None:
            return
        who = credential(request.headers.get("authorization"), mitm.request_query(request))
        body = (response.get_content(strict=False) or b"") if price.per == "resource" else b""
        sent = request.get_content(strict=False) or b""
        exact = fingerprint(request.method, request.path, sent)
        day = int(clock.emulated(clock.now()) // DAY_SECONDS)
        had_credits = not self.wallet.empty
        charge = self.wallet.charge(price, body, sent, who, exact, day)
        cost: CostRecord = {
            "usd": charge.usd,
            "per": charge.per,
            "resources": charge.resources,
            "balance": charge.balance,
            "repeat": charge.repeat,
        }
        record.set_cost(flow, cost)
        if had_credits and self.wallet.empty:
            logger.info(
                f"twerr: credits spent (balance ${self.wallet.balance:.4f}): 402 from now on"
            )

    def summary(self) -> list[str]:
        if not self.wallet.on or self.refusal is None:
            return []
        return [
            f"twerr: credits: ${self.wallet.spent:.4f} spent of ${self.wallet.credits:g}, "
            f"{self.refusal.injected} requests refused with 402"
        ]


def parse_credits(text: str) -> float | None:
    text = text.strip().removeprefix("$")
    if not text:
        return None
    try:
        usd = float(text)
    except ValueError:
        raise ValueError(
            f"twerr_credits must be US dollars, e.g. 5 or 0.25, not {text!r}"
        ) from None
    if not 0 <= usd < 1e9 or usd != usd:
        raise ValueError(f"twerr_credits must be from 0 to 1e9 dollars, not {text!r}")
    return usd
