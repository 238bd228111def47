"""What `twerr_proxy(...)` and `twerr.testing.proxy(...)` take, checked and turned into the
arguments of the `twerr dump` that runs the proxy. Pure: no mitmproxy, no process.

    twerr_proxy(upstream="http://127.0.0.1:8000", inject=[":~u /2/tweets:187"], seed=42)

Any twerr option is given by its name, with or without the `twerr_` prefix (`seed=42`,
`twerr_time_scale=1800`); mitmproxy's own options go in `options={...}`, anything else
mitmdump takes in `args=[...]`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twerr.options import OPTIONS

TWERR_OPTIONS = {option.name: option for option in OPTIONS}
SEQUENCES = {option.name for option in OPTIONS if option.default == []}
# The hosts `upstream=` sends to the test double: twerr's default scope, the X API's hosts.
X_API_HOSTS = re.compile(r"^(api|upload|stream|ads-api)\.(twitter|x)\.com$")
OWN = ("upstream", "replay", "options", "args", "confdir", "timeout")


@dataclass(frozen=True)
class Launch:
    """A checked request for a proxy: the mitmdump arguments that make it, and the rest."""

    args: tuple[str, ...]  # for `twerr dump`, twerr's addon script aside
    upstream: str  # where the X API hosts go ("" for the internet)
    confdir: str | None  # mitmproxy's confdir (its CA); None: the caller picks one
    timeout: float  # seconds to wait for the proxy to listen


def plan(**given: Any) -> Launch:
    """The launch `given` asks for. TypeError names an argument that does not exist, ValueError
    a value that cannot be used; twerr then checks the option values as it starts."""
    args: list[str] = ["--listen-host", "127.0.0.1", "--listen-port", "0"]
    args += ["--set", "flow_detail=0"]  # mitmdump's own flow lines print URLs: twerr's do not
    # Connect upstream only for a request that goes there: a CONNECT alone never reaches the
    # real host, so a fault, the test double or a replay answers with no network at all.
    args += ["--set", "connection_strategy=lazy"]
    upstream = check_upstream(given.get("upstream"))
    replay = given.get("replay")
    if replay:
        files = [replay] if isinstance(replay, str | os.PathLike) else list(replay)
        for file in files:
            if not os.path.isfile(file):
                raise ValueError(f"replay: no such flow file: {os.fspath(file)!r}")
            args += ["--server-replay", os.fspath(file)]
        # answer every repeat of a recorded request; kill one the recording has no answer for
        args += ["--set", "server_replay_reuse=true", "--set", "server_replay_extra=kill"]
    for name, value in given.items():
        if name in OWN:
            continue
        option = name if name.startswith("twerr_") else f"twerr_{name}"
        if option not in TWERR_OPTIONS:
            known = ", ".join(sorted(o.removeprefix("twerr_") for o in TWERR_OPTIONS))
            raise TypeError(
                f"twerr proxy: unknown argument {name!r}. twerr's options: {known}; "
                "also upstream, replay, options (mitmproxy's options), args, confdir, timeout"
            )
        args += set_args(option, value, sequence=option in SEQUENCES)
    for name, value in dict(given.get("options") or {}).items():
        args += set_args(name, value, sequence=isinstance(value, list | tuple))
    extra = given.get("args") or ()
    if isinstance(extra, str) or not all(isinstance(a, str) for a in extra):
        raise TypeError("twerr proxy: args must be a list of strings (mitmdump's arguments)")
    args += extra
    timeout = float(given.get("timeout") or 30)
    confdir = given.get("confdir")
    return Launch(tuple(args), upstream, None if confdir is None else os.fspath(confdir), timeout)


def set_args(name: str, value: Any, *, sequence: bool) -> list[str]:
    """`--set name=value` for one option; a list gives the option once per item."""
    if value is None:
        return []
    values = value if sequence else [value]
    if sequence and isinstance(value, str | bytes):
        values = [value]
    elif not sequence and isinstance(value, list | tuple | set | Mapping):
        raise ValueError(f"twerr proxy: {name} takes one value, not {type(value).__name__}")
    return [arg for item in values for arg in ("--set", f"{name}={text(item)}")]


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str | os.PathLike):
        return os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if isinstance(value, float):  # mitmproxy has no float options: twerr's take text
        return repr(value)
    raise ValueError(f"twerr proxy: cannot pass a {type(value).__name__} as an option value")


def check_upstream(upstream: Any) -> str:
    """`scheme://host[:port]`, with nothing after it; "" when none is given."""
    if upstream is None or upstream == "":
        return ""
    if not isinstance(upstream, str):
        raise ValueError(f"twerr proxy: upstream must be a URL string, not {upstream!r}")
    parts = urlsplit(upstream)
    try:
        parts.port  # noqa: B018 (it raises for a port that is not a number)
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise ValueError(
            f"twerr proxy: upstream must be http(s)://HOST[:PORT] (a test double of the X "
            f"API), not {upstream!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def upstream_parts(upstream: str) -> tuple[str, str, int]:
    """scheme, host and port of a checked upstream."""
    parts = urlsplit(upstream)
    assert parts.hostname
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def options_text(options: Mapping[str, Any]) -> list[str]:
    """`name=value` specs for mitmproxy's `set` (the handle's set()): twerr's options by their
    short names too, a list option once per item; any other name is mitmproxy's."""
    specs = []
    for name, value in options.items():
        option = f"twerr_{name}" if f"twerr_{name}" in TWERR_OPTIONS else name
        items = value if option in SEQUENCES and isinstance(value, list | tuple) else [value]
        specs += [f"{option}={text(item)}" for item in items] or [option]  # bare: emptied
    return specs
