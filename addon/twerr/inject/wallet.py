"""An emulated pay-per-use wallet (`twerr_credits`): what X would charge, and when it stops
answering. Pure: no mitmproxy import.

As X's pricing page says: a read is charged per resource it returns, once per resource per UTC
day; a write per request; only successful responses that return data are charged (the Post cap
FAQ: "Only successful responses that return data are billed"). The balance may go slightly
below zero on the request that spends it; from then on every request gets X's 402 until credits
are added. Days are days of the emulated clock (twerr_time_scale).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from twerr.catalog.quotas import Price

# (who, day, resource) and (who, request) entries remembered, oldest dropped: about 4 MiB each
# when full; a resource read again after it was dropped is charged again (X would not)
MAX_PAID = 20_000
_URL = re.compile(rb"https?://", re.IGNORECASE)


@dataclass(slots=True)
class Charge:
    usd: float
    per: str  # "resource" or "request"
    resources: int  # resources charged (new today); 0 for a request-priced endpoint
    balance: float
    repeat: bool  # this client had paid for this very request before


class Wallet:
    def __init__(self) -> None:
        self.credits: float | None = None  # None: no wallet
        self.balance = 0.0
        self.spent = 0.0
        self.paid: OrderedDict[tuple[str, int, str], None] = OrderedDict()  # read today
        self.bought: OrderedDict[tuple[str, str], None] = OrderedDict()  # requests paid for

    @property
    def on(self) -> bool:
        return self.credits is not None

    @property
    def empty(self) -> bool:
        return self.credits is not None and self.balance <= 0

    def fill(self, usd: float | None) -> None:
        """A new wallet of `usd` dollars (None: none), as after buying credits."""
        self.credits = usd
        self.balance = usd or 0.0
        self.spent = 0.0
        self.paid.clear()
        self.bought.clear()

    def charge(
        self,
        price: Price,
        body: bytes,
        request_body: bytes,
        who: str,
        request: str,
        day: int,
    ) -> Charge:
        """Charge one successful response: `body` is the API's JSON answer, `request` names
        the exact request (to tell a repeat), `who` the credential, `day` the UTC day (days
        since the epoch, on the emulated clock)."""
        usd, per = price.usd, price.per
        if per == "request":
            resources = 0
            if any(v.when == "with_url" for v in price.variants) and _URL.search(request_body):
                usd = next(v.usd for v in price.variants if v.when == "with_url")
            cost = usd
        else:
            fresh = [i for i in resource_ids(body) if (who, day, i) not in self.paid]
            for ident in fresh:
                _remember(self.paid, (who, day, ident))
            resources = len(fresh)
            cost = usd * resources
        repeat = (who, request) in self.bought
        _remember(self.bought, (who, request))
        self.balance -= cost
        self.spent += cost
        return Charge(round(cost, 6), per, resources, round(self.balance, 6), repeat)


def resource_ids(body: bytes) -> list[str]:
    """The ids of the resources a v2 answer returns in `data` (one object, or a list)."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        return []
    data = parsed.get("data") if isinstance(parsed, dict) else None
    items = data if isinstance(data, list) else [data]
    return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]


def _remember[K](table: OrderedDict[K, None], key: K) -> None:
    table[key] = None
    table.move_to_end(key)
    while len(table) > MAX_PAID:
        table.popitem(last=False)
