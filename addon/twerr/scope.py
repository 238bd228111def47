"""The scope: which flows twerr decodes, annotates and may inject into (`twerr_scope`)."""

from __future__ import annotations

from typing import Any

from mitmproxy import flowfilter
from mitmproxy import http

from twerr.inject.matcher import check_nesting
from twerr.inject.matcher import matches
from twerr.options import DEFAULT_SCOPE


def parse_scope(expression: str) -> flowfilter.TFilter:
    if not expression.strip():
        raise ValueError("empty filter; use '~all' to classify every flow")
    parsed = flowfilter.parse(expression)
    check_nesting(parsed)
    return parsed


class Scope:
    """Owns the filter; the other components ask it whether a flow is theirs."""

    def __init__(self) -> None:
        self.use(DEFAULT_SCOPE)

    def use(self, expression: str) -> None:
        """ValueError names what is wrong with the filter; the scope in force stays then."""
        self.filter = parse_scope(expression)

    def configure(self, options: Any, updated: set[str]) -> None:
        if "twerr_scope" in updated:
            try:
                self.use(options.twerr_scope)
            except ValueError as e:
                raise ValueError(
                    f"Cannot parse twerr_scope option {options.twerr_scope!r}: {e}"
                ) from e

    def __call__(self, flow: http.HTTPFlow) -> bool:
        return matches(self.filter, flow)
