"""The scope: which flows twerr decodes, annotates and may inject into (`twerr_scope`)."""

from __future__ import annotations

from typing import Any

from mitmproxy import flowfilter
from mitmproxy import http

from twerr.inject.matcher import Facts
from twerr.inject.matcher import check_nesting
from twerr.inject.matcher import compile_filter
from twerr.options import DEFAULT_SCOPE


def parse_scope(expression: str) -> flowfilter.TFilter:
    if not expression.strip():
        raise ValueError("empty filter; use '~all' to classify every flow")
    parsed = flowfilter.parse(expression)
    check_nesting(parsed)
    return parsed


class Scope:
    """Owns the filter; the other components ask it whether a flow is theirs. The filter is
    compiled as the rules' are (matcher.py): the host it reads is the one the client asked
    for, without mitmproxy's costlier `pretty_host`, on a path every flow takes."""

    def __init__(self) -> None:
        self.use(DEFAULT_SCOPE)

    def use(self, expression: str) -> None:
        """ValueError names what is wrong with the filter; the scope in force stays then."""
        parsed = parse_scope(expression)
        self.filter, self.test = parsed, compile_filter(parsed)

    def configure(self, options: Any, updated: set[str]) -> None:
        if "twerr_scope" in updated:
            try:
                self.use(options.twerr_scope)
            except ValueError as e:
                raise ValueError(
                    f"Cannot parse twerr_scope option {options.twerr_scope!r}: {e}"
                ) from e

    def __call__(self, flow: http.HTTPFlow) -> bool:
        try:
            return self.test(flow, Facts(flow))
        except TypeError:  # a body mitmproxy cannot decode (a codec's name as its encoding)
            return False
