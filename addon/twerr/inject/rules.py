"""Injection rules: what to inject, where, and how often; parsed once, validated by pydantic.

A rule comes from the `twerr_inject` option in mitmproxy's separator-first style
(`:~u /1.1/statuses/update:187`, `|~u /2/tweets & ~m POST|88|p=0.25,times=3`), from a
`X-Twerr-Inject: <fault>[;params]` request header, from a command, or from a YAML/JSON rules file
in long form. All of them become the same `Rule`, so they are validated the same way.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal

from mitmproxy import flowfilter
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import PrivateAttr
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from twerr.catalog import load_catalog
from twerr.inject.faults import ANSWER
from twerr.inject.faults import NETWORK
from twerr.inject.faults import Fault
from twerr.inject.faults import Phase
from twerr.inject.faults import fault
from twerr.inject.forge import fault_status
from twerr.inject.matcher import Facts
from twerr.inject.matcher import Test
from twerr.inject.matcher import after_request
from twerr.inject.matcher import check_nesting
from twerr.inject.matcher import compile_filter

PARAMS = (
    "p",
    "times",
    "after",
    "every",
    "ttl",
    "delay",
    "phase",
    "ratelimit",
    "reset",
    "hold",
    "rate",
)


class WindowSize(BaseModel):
    """`ratelimit=REQUESTS/SECONDS`: the size of an emulated rate-limit window."""

    model_config = ConfigDict(frozen=True)
    limit: Annotated[int, Field(ge=1)]
    seconds: Annotated[int, Field(ge=1)]

    def __str__(self) -> str:
        return f"{self.limit}/{self.seconds}"


class Rule(BaseModel):
    """One injection rule. `match` is a mitmproxy filter; none matches every flow in scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: str | None = None
    fault: str
    p: Annotated[float, Field(ge=0, le=1)] = 1.0
    times: Annotated[int, Field(ge=1)] | None = None
    after: Annotated[int, Field(ge=0)] = 0
    every: Annotated[int, Field(ge=1)] = 1
    ttl: Annotated[float, Field(gt=0)] | None = None  # seconds after the rule is loaded
    delay: Annotated[int, Field(ge=0, le=3_600_000)] = 0  # milliseconds of extra latency
    phase: Phase | None = None  # None: "request", or "response" for truncate and slow
    ratelimit: WindowSize | Literal["x"] | None = None  # x: what X documents (xlimits.py)
    reset: Annotated[int, Field(ge=1, le=31_536_000)] | None = None  # a 429's window, seconds
    hold: Annotated[int, Field(ge=1, le=3600)] = 300  # timeout: longest hold, in seconds
    rate: Annotated[int, Field(ge=1)] = 128  # slow: bytes per second
    name: str | None = None

    _test: Test | None = PrivateAttr(default=None)
    _fault: Fault = PrivateAttr(default=ANSWER)

    @field_validator("fault", mode="before")
    @classmethod
    def _fault_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("fault")
    @classmethod
    def _fault_known(cls, value: str) -> str:
        fault(value)  # raises ValueError naming an unknown fault
        return value

    @field_validator("ratelimit", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() == "x":
                return "x"
            limit, slash, seconds = value.partition("/")
            if not slash:
                raise ValueError(
                    "write ratelimit as REQUESTS/SECONDS (e.g. 15/900), or x for X's own limits"
                )
            value = {"limit": limit.strip(), "seconds": seconds.strip()}
        if isinstance(value, dict):  # made here: a union's errors would name both its members
            try:
                return WindowSize.model_validate(value)
            except ValidationError as e:
                raise ValueError(explain(e)) from None
        return value

    @field_validator("match")
    @classmethod
    def _match(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _check(self) -> Rule:
        self._fault = fault(self.fault)
        if self.fault == "pass" and not self.delay:
            raise ValueError("fault 'pass' does nothing without delay=MS")
        if self._fault.response_only and self.phase == "request":
            raise ValueError(f"{self.fault} acts on the API's response: it needs phase=response")
        if self.ratelimit is not None:
            if not _answers_429(self.fault, window=True):
                raise ValueError(
                    "ratelimit needs a fault that answers a spent window's 429, such as 88"
                )
            if self.phase == "response":
                raise ValueError("ratelimit answers before the API is asked: no phase=response")
        self._check_params()
        if self.match is not None:
            try:
                parsed = flowfilter.parse(self.match)
                check_nesting(parsed)
            except ValueError as e:
                raise ValueError(f"bad filter {self.match!r}: {e}") from e
            late = after_request(parsed)
            if late:
                raise ValueError(
                    f"{late} in {self.match!r} looks at the response, but rules are matched "
                    "on the request (use phase=response to act on the response)"
                )
            self._test = compile_filter(parsed)
        return self

    def _check_params(self) -> None:
        """Refuse parameters that would do nothing for this fault: a typo is likelier."""
        given = self.model_fields_set
        for entry in NETWORK.values():
            if entry.param in given and entry is not self._fault:
                raise ValueError(f"{entry.param} is for the {entry.name} fault")
        if "reset" in given and (self.ratelimit is not None or not _answers_429(self.fault)):
            raise ValueError("reset is for a fault that answers 429 without ratelimit")

    @property
    def effective_phase(self) -> Phase:
        return self.phase if self.phase is not None else self._fault.phase

    @property
    def entry(self) -> Fault:
        """The fault's registry entry."""
        return self._fault

    @property
    def test(self) -> Test | None:
        """The compiled filter; None matches every flow."""
        return self._test

    def describe(self) -> str:
        """The rule in the option's short form, for lists, logs and metadata."""
        params = []
        for name in PARAMS:
            value = getattr(self, name)
            if value != Rule.model_fields[name].default:
                params.append(
                    f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                )
        text = f"{self.match or '~all'} -> {self.fault}"
        return f"{text} ({', '.join(params)})" if params else text


def _answers_429(fault: str, window: bool = False) -> bool:
    """Whether the fault is a 429 (window: one that says its rate-limit window is spent)."""
    if fault in NETWORK or fault_status(fault) != 429:
        return False
    if not window:
        return True
    catalog = load_catalog()
    shape = catalog.shape(fault)
    if shape is not None:
        return shape.rate_limit in ("window", "no-reset")
    problem = catalog.problem_by_slug(fault)
    return problem is None or problem.resets == "window"


def explain(error: ValidationError) -> str:
    """pydantic's errors as one line: where, then what."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals:
            raise ValueError(f"parameter {item.strip()!r} has no value (write name=value)")
        if name not in PARAMS:
            raise ValueError(f"unknown parameter {name!r} (known: {', '.join(PARAMS)})")
        if name in params:
            raise ValueError(f"parameter {name!r} given twice")
        params[name] = value.strip()
    return params


def make_rule(values: Mapping[str, Any]) -> Rule:
    try:
        return Rule.model_validate(values)
    except ValidationError as e:
        raise ValueError(explain(e)) from None
    except RecursionError:
        raise ValueError("the filter is nested too deeply") from None


def parse_spec(spec: str) -> Rule:
    """`<sep><filter><sep><fault>[<sep><params>]`; ValueError names what is wrong."""
    if len(spec) < 2:
        raise ValueError("empty spec; write it as :FILTER:FAULT[:PARAMS], e.g. :~u /2/tweets:88")
    sep, rest = spec[0], spec[1:]
    parts = rest.split(sep)
    if len(parts) not in (2, 3):
        raise ValueError(
            f"expected FILTER, FAULT and optional PARAMS, each after the separator {sep!r} "
            f"(the spec's first character); found {len(parts)} part(s)"
        )
    match, fault = parts[0], parts[1].strip()
    params = parse_params(parts[2]) if len(parts) == 3 else {}
    return make_rule({"match": match, "fault": fault, **params})


def parse_header(value: str) -> Rule:
    """The `X-Twerr-Inject` header: `<fault>[;params]`, for this request only."""
    fault, _, params = value.partition(";")
    parsed = parse_params(params)
    refused = {"times", "after", "every", "ttl", "ratelimit"} & set(parsed)
    if refused:
        raise ValueError(f"{', '.join(sorted(refused))}: not for a single request")
    return make_rule({"fault": fault.strip(), **parsed})


def load_rules_file(path: Path) -> list[tuple[Rule, str]]:
    """The rules in a YAML or JSON file, each with where it stands ("file.yaml line 4").

    The file holds a list of rules, or a mapping whose `rules` key holds one. ValueError names
    the line and the field of the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    try:
        data = YAML(typ="rt", pure=True).load(text)
    except (YAMLError, ValueError) as e:  # ValueError: an integer too long for int()
        raise ValueError(f"{path.name}: not valid YAML or JSON: {e}".replace("\n", " ")) from None
    except RecursionError:
        raise ValueError(f"{path.name}: nested too deeply to be a rules file") from None
    if isinstance(data, Mapping) and set(data) <= {"rules"}:
        data = data.get("rules")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: expected a list of rules (or 'rules:' and a list)")
    rules = []
    for index, item in enumerate(data):
        line = _line(data, index)
        where = f"{path.name} line {line}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: rule {index + 1} is not a mapping of fields")
        try:
            rules.append((Rule.model_validate(dict(item)), where))
        except RecursionError:
            raise ValueError(f"{where}: rule {index + 1}: nested too deeply") from None
        except ValidationError as e:
            field_name = next((str(x["loc"][0]) for x in e.errors() if x["loc"]), None)
            if field_name is not None and field_name in item:
                where = f"{path.name} line {_line(item, field_name)}"
            raise ValueError(f"{where}: rule {index + 1}: {explain(e)}") from None
    return rules


def _line(container: Any, key: Any) -> int:
    """1-based line of an item in a ruamel round-trip container, or 0 if unknown."""
    try:
        lines = container.lc
        return int((lines.item(key) if isinstance(container, list) else lines.key(key))[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return 0


@dataclass
class Decision:
    """Why a rule fired for a flow: enough to explain and replay it."""

    match: int  # the rule's counter: how many requests it had matched, this one included
    injection: int  # how many times it has injected, this one included
    draw: float | None  # the random draw compared with p (None when p is 1)


@dataclass
class ActiveRule:
    """A loaded rule and its counters."""

    rule: Rule
    origin: str  # "twerr_inject[0]", "rules.yaml line 4", "twerr.inject", "X-Twerr-Inject"
    loaded_at: float
    once: bool = False  # twerr.next: removed after its first injection
    matched: int = 0
    injected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._test = self.rule.test  # read once: pydantic's private attributes are slow

    def matches(self, flow: Any, facts: Facts) -> bool:
        """facts: the memo shared by all rules tried on this flow."""
        return self._test is None or self._test(flow, facts)

    def consider(self, now: float, rng: random.Random) -> Decision | None:
        """Count a matching request and decide whether to inject; None lets it pass."""
        rule = self.rule
        self.matched += 1
        if self.expired(now) or self.spent:
            return None
        eligible = self.matched - rule.after
        if eligible <= 0 or eligible % rule.every:
            return None
        draw = None
        if rule.p < 1:
            draw = rng.random()
            if draw >= rule.p:
                return None
        self.injected += 1
        return Decision(self.matched, self.injected, draw)

    def expired(self, now: float) -> bool:
        return self.rule.ttl is not None and now - self.loaded_at >= self.rule.ttl

    @property
    def spent(self) -> bool:
        limit = 1 if self.once else self.rule.times
        return limit is not None and self.injected >= limit

    def skip(self, reason: str) -> None:
        """Take back an injection the addon could not carry out (e.g. the fault cap)."""
        self.injected -= 1
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self, now: float) -> str:
        state = "expired" if self.expired(now) else "spent" if self.spent else "active"
        skipped = "".join(f", {n} skipped ({why})" for why, n in sorted(self.skipped.items()))
        return (
            f"{self.origin}: {self.rule.describe()}: {self.injected} injected of "
            f"{self.matched} matched{skipped} [{state}]"
        )
