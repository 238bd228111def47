"""The faults twerr can inject, one registry entry each: what rules accept, how the injector
carries a fault out, how explain names it and how the audit reads it all come from here.

Adding a network fault is one entry (and its `act`) plus its tests. Every Twitter/X error the
catalog knows (a code, an HTTP status, a v2 problem type, an odd shape) is one fault, `answer`:
the API's own error, forged (see forge.py).

The registry itself is pure: explain, the audit and the report read it without mitmproxy, so
each act imports what carries it out (network.py, answer.py) when it first runs.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Literal

from twerr.catalog import load_catalog
from twerr.inject.forge import fault_kind

if TYPE_CHECKING:
    from mitmproxy import http

    from twerr.inject.rules import ActiveRule

Phase = Literal["request", "response"]
# Carries the fault out on the flow; False when there was nothing to do it to. `seed` names
# the session, so a forged answer's ids can be derived from it and the flow.
Act = Callable[["http.HTTPFlow", "ActiveRule", int], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    act: Act
    phase: Phase = "request"  # when it acts, unless the rule says phase=response
    response_only: bool = False  # it acts on the API's own response: phase=response only
    param: str | None = None  # the parameter that only this fault takes
    # the client is left with no answer or a broken one: the transport error it sees is
    # named after the fault (explain, the report, the audit's tallies)
    breaks: bool = False
    keeps_answer: bool = False  # the client still gets the API's own answer (only later)


async def _answer(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    from twerr.inject.answer import answer

    answer(flow, active, seed)
    return True


async def _partial(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    from twerr.inject.answer import answer
    from twerr.inject.answer import partial

    if flow.response is None:  # phase=request: the API is not asked, the answer is forged
        answer(flow, active, seed)
        return True
    return partial(flow, active, seed)


async def _pass(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    return True  # the rule's delay was the fault


async def _reset(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    from twerr.inject import network

    network.reset(flow)
    return True


async def _empty(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    from twerr.inject import network

    network.close(flow)
    return True


async def _timeout(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    from twerr.inject import network

    await network.hold(flow, active.rule.hold)
    if flow.error is not None:  # killed meanwhile by someone else
        return False
    network.close(flow)
    return True


async def _truncate(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    from twerr.inject import network

    return network.truncate(flow)


async def _slow(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    return False  # carried out by the slow detour as the API answers, never here


ANSWER = Fault("answer", _answer)  # the API's own error, forged
# A lookup's partial error (resource-not-found, ...): the API's own answer, one requested item
# moved from data to errors; with phase=request, forged without asking the API.
PARTIAL = Fault("partial", _partial, phase="response", keeps_answer=True)
NETWORK: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        # drop the connection with a TCP reset
        Fault("reset", _reset, breaks=True),
        # hold the request until the client gives up (hold=SECONDS), then close
        Fault("timeout", _timeout, param="hold", breaks=True),
        # close the connection without an answer
        Fault("empty", _empty, breaks=True),
        # send half the API's body under its full length, then close
        Fault("truncate", _truncate, phase="response", response_only=True, breaks=True),
        # trickle the API's answer out (rate=BYTES_PER_SECOND)
        Fault("slow", _slow, phase="response", response_only=True, param="rate", keeps_answer=True),
        # let the request through, only later (delay=MS)
        Fault("pass", _pass, keeps_answer=True),
    )
}


def fault(name: str) -> Fault:
    """The registry entry for a fault's name; ValueError names an unknown one."""
    found = NETWORK.get(name)
    if found is not None:
        return found
    fault_kind(name)  # raises ValueError naming an unknown fault
    return PARTIAL if _is_partial(name) else ANSWER


def _is_partial(name: str) -> bool:
    problem = load_catalog().problem_by_slug(name)
    return problem is not None and problem.partial


def breaks(name: object) -> bool:
    """Whether the named fault left the client a transport error (a name from a flow file)."""
    found = NETWORK.get(name) if isinstance(name, str) else None
    return found is not None and found.breaks


def keeps_answer(name: object) -> bool:
    """Whether the client still got the API's own answer (a name from a flow file)."""
    if not isinstance(name, str):
        return False
    found = NETWORK.get(name) or (PARTIAL if _is_partial(name) else None)
    return found is not None and found.keeps_answer
