"""Rule filters for many rules at the cost of one: read the flow's URL and host once.

mitmproxy's `~u` and `~d` filters rebuild the request's pretty URL or host on every call (about
10 µs each), so 20 rules cost 20 times that per flow. `compile_filter` rebuilds a parsed filter
into the same predicate that takes those two values from a per-flow memo, and tests the cheap
parts of `&` and `|` (method, flags, markers) before the costly ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from mitmproxy import flowfilter
from mitmproxy import http

from twerr import mitm

Test = Callable[[http.HTTPFlow, "Facts"], bool]


class Facts:
    """What the filters of all rules read of one flow, computed on first use."""

    __slots__ = ("_host", "_url", "flow")

    def __init__(self, flow: http.HTTPFlow) -> None:
        self.flow = flow
        self._url: str | None = None
        self._host: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.flow.request.pretty_url
        return self._url

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = self.flow.request.pretty_host
        return self._host


MAX_NESTING = 100  # levels of !, & and |: far beyond a written filter; each is a call deep


def compile_filter(node: flowfilter.TFilter) -> Test:
    return _compile(node)[0]


def check_nesting(node: object) -> None:
    """Refuse a filter nested so deep that matching it would exhaust Python's stack."""
    pending = [(node, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            raise ValueError(f"the filter is nested more than {MAX_NESTING} levels deep")
        if isinstance(node, mitm.FAnd | mitm.FOr):
            pending += [(child, depth + 1) for child in node.lst]
        elif isinstance(node, mitm.FNot):
            pending.append((node.itm, depth + 1))


def matches(test: flowfilter.TFilter, flow: http.HTTPFlow) -> bool:
    """A filter's answer; no for a body mitmproxy cannot read: it hands a content-encoding it
    does not know to Python's codecs, and a text codec's name ("rot13") raises TypeError."""
    try:
        return bool(test(flow))
    except TypeError:
        return False


# Filters that look at what only exists after the request: a response, or an error.
_AFTER_REQUEST = (
    mitm.FResp,
    mitm.FCode,
    mitm.FBodResponse,
    mitm.FHeadResponse,
    mitm.FContentTypeResponse,
    mitm.FErr,
)


def after_request(node: object) -> str | None:
    """The code (`~c`, ...) of a part of the filter no request can match, if there is one."""
    if isinstance(node, mitm.FAnd | mitm.FOr):
        return next((code for child in node.lst if (code := after_request(child))), None)
    if isinstance(node, mitm.FNot):
        return after_request(node.itm)
    if isinstance(node, _AFTER_REQUEST):
        return f"~{node.code}"
    return None


def _compile(node: object) -> tuple[Test, int]:
    """The test and its cost rank (what sorting `&` and `|` children goes by)."""
    if isinstance(node, mitm.FAnd | mitm.FOr):
        parts = sorted((_compile(child) for child in node.lst), key=lambda part: part[1])
        tests = [test for test, _ in parts]
        cost = sum(rank for _, rank in parts)
        if isinstance(node, mitm.FAnd):

            def every(f: http.HTTPFlow, facts: Facts) -> bool:
                for test in tests:  # noqa: SIM110 (a loop, not a generator per call)
                    if not test(f, facts):
                        return False
                return True

            return every, cost

        def some(f: http.HTTPFlow, facts: Facts) -> bool:
            for test in tests:  # noqa: SIM110 (a loop, not a generator per call)
                if test(f, facts):
                    return True
            return False

        return some, cost
    if isinstance(node, mitm.FNot):
        test, cost = _compile(node.itm)
        return (lambda f, facts: not test(f, facts)), cost
    if isinstance(node, mitm.FUrl):
        url = node.re
        return (lambda f, facts: bool(url.search(facts.url))), 10
    if isinstance(node, mitm.FDomain):
        domain = node.re
        return (
            lambda f, facts: bool(domain.search(f.request.host) or domain.search(facts.host))
        ), 8
    leaf = cast(flowfilter.TFilter, node)
    if isinstance(node, mitm.FHead | mitm.FHeadRequest | mitm.FHeadResponse):
        return (lambda f, facts: bool(leaf(f))), 5
    if isinstance(node, mitm.FBod | mitm.FBodRequest | mitm.FBodResponse):
        return (lambda f, facts: matches(leaf, f)), 20
    return (lambda f, facts: bool(leaf(f))), 1
