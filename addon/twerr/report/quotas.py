"""The report's quota tables: which limit bound the refused requests, and what the emulated
wallet spent, per endpoint. Pure: it reads the records twerr wrote on the flows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twerr import explain
from twerr.record import Record

MAX_ROWS = 2_000  # (endpoint, binding) pairs kept; rarer ones beyond this are not listed


@dataclass(slots=True)
class Binding:
    count: int = 0
    retry_when: str = ""
    last: str = ""  # the latest one-line reading


@dataclass(slots=True)
class Spend:
    requests: int = 0  # billed requests
    usd: float = 0.0
    failed: float = 0.0  # spent on requests that got an error
    repeated: float = 0.0  # spent on a request the client had already paid for
    wasted: float = 0.0  # spent on either (each request counted once)


class QuotaTables:
    def __init__(self) -> None:
        self.bindings: dict[tuple[str, str], Binding] = {}
        self.spend: dict[str, Spend] = {}

    def add(self, meta: Record, endpoint: str) -> None:
        if quota := meta.get("quota"):
            key = (endpoint, quota["binding"] or "")
            row = self.bindings.get(key)
            if row is None and len(self.bindings) < MAX_ROWS:
                row = self.bindings[key] = Binding()
            if row is not None:
                row.count += 1
                row.retry_when, row.last = quota["retry_when"], quota["summary"]
        cost = meta.get("cost")
        if cost and isinstance(cost.get("usd"), int | float):
            spend = self.spend.get(endpoint)
            if spend is None:
                spend = self.spend[endpoint] = Spend()
            usd = float(cost["usd"])
            spend.requests += 1
            spend.usd += usd
            failed, repeated = explain.is_error(meta), bool(cost.get("repeat"))
            spend.failed += usd if failed else 0.0
            spend.repeated += usd if repeated else 0.0
            spend.wasted += usd if failed or repeated else 0.0

    def to_dict(self) -> dict[str, Any]:
        bindings = sorted(self.bindings.items(), key=lambda item: (-item[1].count, item[0]))
        spend = sorted(self.spend.items(), key=lambda item: (-item[1].usd, item[0]))
        total = sum(row.usd for _, row in spend)
        wasted = sum(row.wasted for _, row in spend)
        return {
            "quotas": [
                {
                    "endpoint": endpoint,
                    "binding": binding,
                    "count": row.count,
                    "retry_when": row.retry_when,
                    "last": row.last,
                }
                for (endpoint, binding), row in bindings
            ],
            "spend": {
                "usd": round(total, 6),
                "failed_or_repeated_usd": round(wasted, 6),
                "failed_or_repeated_share": round(wasted / total, 4) if total else 0.0,
                "endpoints": [
                    {
                        "endpoint": endpoint,
                        "requests": row.requests,
                        "usd": round(row.usd, 6),
                        "failed_usd": round(row.failed, 6),
                        "repeated_usd": round(row.repeated, 6),
                    }
                    for endpoint, row in spend
                ],
            },
        }
