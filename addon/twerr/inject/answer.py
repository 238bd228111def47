"""Answer a request with a forged Twitter/X error, as the API would send it to this client,
and keep the API's own answer when a fault replaces it (without its credentials)."""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING
from typing import Any

from mitmproxy import http

from twerr.catalog import load_catalog
from twerr.decode import Window
from twerr.decode.redact import CREDENTIAL_FIELD
from twerr.decode.wire import decompress
from twerr.inject import clock
from twerr.inject.forge import DAY_SECONDS
from twerr.inject.forge import WINDOW_SECONDS
from twerr.inject.forge import forge
from twerr.inject.partial import rewrite

if TYPE_CHECKING:
    from twerr.inject.rules import ActiveRule

DAY_CAP_WINDOW = 900  # the 15-minute window a forged 24-hour cap sends beside it
SECRET_RESPONSE_HEADERS = ("set-cookie",)  # kept out of the saved original response
CREDENTIAL_SCAN_LIMIT = 64 << 10  # bytes of an answer searched for credential fields


def answer(
    flow: http.HTTPFlow, active: ActiveRule, seed: int, window: Window | None = None
) -> None:
    """Set the flow's response to the forged error the rule names. `window`: the state of
    an emulated rate-limit window, for its headers."""
    stamp = clock.now()
    # The windows a forged 429 names follow each other from the rule's start, so a client
    # that waits for the reset it was given is not given a later one in the meantime.
    period = clock.real_seconds(
        active.rule.reset or (DAY_SECONDS if active.rule.fault == "429-day-cap" else WINDOW_SECONDS)
    )
    reset_after = math.ceil(period - (stamp - active.loaded_at) % period)
    if window is None and active.rule.fault == "429-day-cap":  # its window goes on, as fast
        window_reset = math.ceil(stamp + clock.real_seconds(WINDOW_SECONDS))
        window = Window(DAY_CAP_WINDOW, DAY_CAP_WINDOW - 1, window_reset)
    forged = forge(
        active.rule.fault,
        path=flow.request.path,
        now=stamp,
        window=window,
        reset_after=reset_after,
        token=f"{seed} {flow.id}",
    )
    response = http.Response.make(
        forged.status, forged.body, [(k.encode(), v.encode()) for k, v in forged.headers]
    )
    response.reason = forged.reason
    if forged.body and accepts_gzip(flow.request.headers.get("accept-encoding", "")):
        response.encode("gzip")  # as the API does for clients that accept it
    if forged.status in (204, 304):
        response.headers.pop("content-length", None)
    elif flow.request.method.upper() == "HEAD":  # the length of the body it would send
        length = str(len(response.raw_content or b""))
        response.raw_content = b""
        response.headers["content-length"] = length
    flow.response = response


def partial(flow: http.HTTPFlow, active: ActiveRule, seed: int) -> bool:
    """The API's answer to a lookup, one requested item moved from data to errors as the
    rule's problem reports it (partial.py); False, and the answer left as the API sent it,
    when it is not a JSON lookup answer holding such an item."""
    response = flow.response
    problem = load_catalog().problem_by_slug(active.rule.fault)
    if response is None or problem is None or response.status_code != 200:
        return False
    try:
        content = response.get_content()
    except ValueError:  # a content-encoding that will not decode
        return False
    new = rewrite(problem, content or b"", flow.request.path, seed)
    if new is None:
        return False
    response.content = new  # encoded as the API encoded it; content-length follows
    return True


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether gzip is acceptable: named with q above 0, or not named while * is."""
    weights = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        quality = params.replace(" ", "").removeprefix("q=")
        try:
            weights[name.strip()] = float(quality) if params.strip() else 1.0
        except ValueError:
            weights[name.strip()] = 1.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def original(response: http.Response, path: str) -> dict[str, Any]:
    """The API's own response, kept in metadata so nothing is lost, but for its credentials:
    cookies are left out, and so is the body of an endpoint that hands out tokens."""
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in response.headers.fields
        if name.decode("latin-1").lower() not in SECRET_RESPONSE_HEADERS
    ]
    body = response.raw_content or b""
    kept: dict[str, Any] = {
        "status": response.status_code,
        "reason": response.reason,
        "headers": headers,
    }
    if _hands_out_credentials(path, response):
        kept["body_withheld"] = f"{len(body)} bytes: this endpoint's answers hold credentials"
        kept["headers"] = [h for h in headers if h[0].lower() != "location"]  # callback tokens
    else:
        kept["body_base64"] = base64.b64encode(body).decode("ascii")
    return kept


def _hands_out_credentials(path: str, response: http.Response) -> bool:
    route = path.split("?", 1)[0].lower()
    if "oauth" in route or "token" in route:
        return True
    # decompressed only as far as is read (mitmproxy's get_content would inflate all of a
    # bomb); a body that will not decompress is read as sent
    body = response.raw_content or b""
    encoding = response.headers.get("content-encoding", "")
    content, problem = decompress(body, encoding, CREDENTIAL_SCAN_LIMIT)
    return bool(
        CREDENTIAL_FIELD.search(content[:CREDENTIAL_SCAN_LIMIT])
        or (problem and CREDENTIAL_FIELD.search(body[:CREDENTIAL_SCAN_LIMIT]))
    )
