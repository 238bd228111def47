"""Forge the response the real Twitter/X API sends for an error: status, headers and body.

Pure: no mitmproxy import. The bodies and headers copy real ones (research: twitter-errors.md,
sections 1 to 3): v1.1 endpoints get `{"errors":[{"code":..,"message":..}]}` with
`application/json;charset=utf-8` and `x-transaction`; v2 endpoints get problem details with
`application/json; charset=utf-8`, `x-transaction-id` and a Date in UTC. A fault names what to
send: a code (`187`), a status (`http503`), a v2 problem type (`usage-capped`) or an odd shape
from the catalog (`429-no-reset`).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Literal

from twerr.catalog import Catalog
from twerr.catalog import CodeEntry
from twerr.catalog import OddShape
from twerr.catalog import ProblemEntry
from twerr.catalog import load_catalog
from twerr.decode import Window
from twerr.decode.ratelimit import rate_limit_headers

Api = Literal["v1.1", "v2"]
FaultKind = Literal["code", "status", "problem", "shape"]

# The host X names in problem types since mid-2026 (what its current SDKs type and compare:
# docs/catalog-sources.md, "The problem type host"); the decoder reads api.twitter.com too.
PROBLEM_BASE = "https://api.x.com/2/problems/"
WINDOW_SECONDS = 900  # the standard 15-minute window
DAY_SECONDS = 86400

_V1_HEADERS = (
    ("cache-control", "no-cache, no-store, must-revalidate, pre-check=0, post-check=0"),
    ("expires", "Tue, 31 Mar 1981 05:00:00 GMT"),
    ("pragma", "no-cache"),
    ("server", "tsa_b"),
    ("strict-transport-security", "max-age=631138519"),
    ("content-disposition", "attachment; filename=json.json"),
    ("x-access-level", "read-write"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-response-time", "52"),
    ("x-twitter-response-tags", "BouncerExempt"),
    ("x-xss-protection", "0"),
)
_V2_HEADERS = (
    ("api-version", "2.120"),
    ("cache-control", "no-cache, no-store, max-age=0"),
    ("content-disposition", "attachment; filename=json.json"),
    ("perf", "7626143928"),
    ("server", "tsa_b"),
    ("strict-transport-security", "max-age=631138519"),
    ("x-access-level", "read-write"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-response-time", "49"),
    ("x-xss-protection", "0"),
)
# api.x.com behind Cloudflare, 2026: the 402s of tryethernal/ethernal#910-#947 (Date in GMT)
_CLOUDFLARE_HEADERS = (
    ("api-version", "2.160"),
    ("cache-control", "no-cache, no-store, max-age=0"),
    ("perf", "7402827104"),
    ("server", "cloudflare envoy"),
)
# What the edge sends with a page that is not the API's JSON (HTML, XML, text): no API headers.
_EDGE_HEADERS = (("server", "tsa_b"),)
_JSON_TYPE = {"v1.1": "application/json;charset=utf-8", "v2": "application/json; charset=utf-8"}
_RESOURCE_TYPES = {"tweets": "tweet", "users": "user", "lists": "list", "spaces": "space"}
# The OAuth 1.0a token endpoints: the codes of the OAuth flow (415, 417) come as XML there
# (research 1.3), as does the captured content type.
OAUTH_TOKEN_ROUTES = ("/oauth/request_token", "/oauth/access_token")
OAUTH_XML_TYPE = "application/xml;charset=utf-8"
_STATUS_FAULT = re.compile(r"^http([2-5][0-9][0-9])$")  # 1xx are not answers


@dataclass(frozen=True, slots=True)
class Forged:
    """A response before any content-encoding: the proxy compresses it if the client asks."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def fault_kind(fault: str, catalog: Catalog | None = None) -> FaultKind:
    """What kind of response fault this names; ValueError if it names none."""
    catalog = catalog or load_catalog()
    if fault.isdigit():
        if catalog.code(int(fault)) is None:
            raise ValueError(f"unknown Twitter error code {fault}")
        return "code"
    if _STATUS_FAULT.match(fault):
        return "status"
    if catalog.problem_by_slug(fault) is not None:
        return "problem"
    if catalog.shape(fault) is not None:
        return "shape"
    raise ValueError(f"unknown fault {fault!r}")


def fault_status(fault: str, catalog: Catalog | None = None) -> int:
    """The HTTP status a response fault answers with (v1.1 endpoints where it differs)."""
    catalog = catalog or load_catalog()
    return forge(fault, path="/1.1/", now=0, catalog=catalog).status


def api_of(path: str) -> Api:
    return "v2" if path.startswith("/2/") else "v1.1"


def forge(
    fault: str,
    *,
    path: str,
    now: float,
    window: Window | None = None,
    reset_after: int | None = None,
    token: str = "",
    catalog: Catalog | None = None,
) -> Forged:
    """The response the API sends for `fault` at `path` (with its query string), at time `now`.

    window: the emulated rate-limit window's state, when one is kept for this endpoint.
    reset_after: seconds until a 429's window resets (default: the standard 15 minutes).
    token: any text; the transaction and connection ids are derived from it, so the same token
    gives the same bytes. Raises ValueError for a fault that names no response.
    """
    catalog = catalog or load_catalog()
    kind = fault_kind(fault, catalog)
    # bytes that are not UTF-8 (mitmproxy keeps them as lone surrogates) come back as U+FFFD,
    # as from a server that reads the path as UTF-8
    path = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    api = api_of(path)
    content_type: str | None = None
    rate_limit = "window"
    family: str = api  # whose headers: "v1.1", "v2", or "cloudflare" (api.x.com, 2026)
    if kind == "code":
        entry = catalog.code(int(fault))
        assert entry is not None
        status, body = _code_body(entry, api, path, catalog)
        if entry.oauth_xml and path.partition("?")[0] in OAUTH_TOKEN_ROUTES:
            body, content_type, rate_limit = _oauth_xml(entry), OAUTH_XML_TYPE, "none"
    elif kind == "status":
        status = int(fault[4:])
        text = getattr(catalog.status(status), "text_body", None)
        if text and getattr(catalog.status(status), "status", None) == status:
            body, content_type = text.encode(), "text/plain"  # 420: the edge's text
        else:
            status, body = _status_body(status, api, path, catalog)
    elif kind == "problem":
        problem = catalog.problem_by_slug(fault)
        assert problem is not None
        if problem.resets != "window":
            rate_limit = "not-window"  # a usage cap: the window itself has requests left
        api = "v2"  # a problem is a v2 body whatever the path
        family = "cloudflare" if problem.headers == "cloudflare" else api
        if problem.slug == "about:blank":  # the generic problem: a plain 403, as captured
            status, body = _status_body(403, api, path, catalog)
        else:
            status, body = _problem_body(problem, path)
    else:
        shape = catalog.shape(fault)
        assert shape is not None
        status, body, content_type, rate_limit = _shape_body(shape, api, path, catalog)
    from_api = content_type is None or content_type == ""  # not an HTML, XML or text page
    if body and content_type is None:
        content_type = _JSON_TYPE[api]

    family_headers = {"v1.1": _V1_HEADERS, "v2": _V2_HEADERS, "cloudflare": _CLOUDFLARE_HEADERS}
    headers = list(family_headers[family] if from_api else _EDGE_HEADERS)
    date = formatdate(now, usegmt=True)
    headers.append(("date", date.replace(" GMT", " UTC") if family == "v2" else date))
    if content_type:
        headers.append(("content-type", content_type))
    if api == "v1.1" and from_api:
        headers.append(("status", f"{status} {reason_phrase(status, catalog)}"))
    digest = hashlib.sha256(
        f"twerr {token} {fault} {path}".encode("utf-8", "surrogatepass")
    ).hexdigest()
    headers.append(("x-connection-hash", digest))
    headers.append(("x-transaction-id" if api == "v2" else "x-transaction", digest[:16]))
    if (status >= 400 or body) and rate_limit != "none" and from_api:
        headers.extend(_rate_limit_headers(status, rate_limit, window, now, reset_after))
    return Forged(status, reason_phrase(status, catalog), tuple(headers), body)


def _rate_limit_headers(
    status: int, kind: str, window: Window | None, now: float, reset_after: int | None
) -> list[tuple[str, str]]:
    # A spent 24-hour cap's reset_after is the day's; its 15-minute window goes on as ever.
    window_after = reset_after if reset_after is not None and kind != "day-cap" else None
    reset = math.ceil(now) + (window_after if window_after is not None else WINDOW_SECONDS)
    if window is None:
        limited = status == 429 and kind not in ("day-cap", "not-window")
        window = Window(limit=900, remaining=0 if limited else 899, reset=reset)
    headers = rate_limit_headers(window)
    if kind == "no-reset":
        return headers[:2]
    if kind == "day-cap":
        if window.remaining == 0 and window.limit:
            window = Window(window.limit, window.limit - 1, window.reset)
        day_reset = math.ceil(now) + (reset_after if reset_after is not None else DAY_SECONDS)
        return [
            *rate_limit_headers(window),
            ("x-app-limit-24hour-limit", "1000"),
            ("x-app-limit-24hour-remaining", "0"),
            ("x-app-limit-24hour-reset", str(day_reset)),
        ]
    return headers


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def reason_phrase(status: int, catalog: Catalog | None = None) -> str:
    """The reason phrase: the standard one, else the catalog's (420 Enhance Your Calm)."""
    catalog = catalog or load_catalog()
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        entry = catalog.status(status)
        return entry.text if getattr(entry, "status", None) == status else "Unknown"


def _code_body(entry: CodeEntry, api: Api, path: str, catalog: Catalog) -> tuple[int, bytes]:
    if api == "v2":
        hint = catalog.hint_for_code(entry.code)
        title = reason_phrase(entry.http_status, catalog)
        detail = hint.detail if hint else title
        return entry.http_status, _about_blank(entry.http_status, title, detail)
    message = entry.forged_message
    if "<named>" in entry.message and "media" in path:
        message = (entry.wire_message or entry.message).replace("<named>", "media")
    error = {"code": entry.code, "message": message, **entry.extra}
    return entry.http_status, _json({"errors": [error]})


def _oauth_xml(entry: CodeEntry) -> bytes:
    """The error of an OAuth token endpoint, as sent since 2021 (hybridauth/hybridauth#1314,
    arunagw/omniauth-twitter#144): the single-quoted declaration, one line."""
    message = html.escape(entry.forged_message, quote=False)
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><errors><error code=\"{entry.code}\">"
        f"{message}</error></errors>"
    ).encode()


def _status_body(status: int, api: Api, path: str, catalog: Catalog) -> tuple[int, bytes]:
    if status < 400:
        return status, b""
    if api == "v2":
        title = reason_phrase(status, catalog)
        return status, _about_blank(status, title, title)
    entry = catalog.status(status)
    code = getattr(entry, "v1_code", None)
    if code is None:
        return status, b""  # no code the API is known to send with this status alone
    code_entry = catalog.code(code)
    assert code_entry is not None
    return status, _code_body(code_entry, api, path, catalog)[1]


def _about_blank(status: int, title: str, detail: str) -> bytes:
    # The member order of the 401 and 429 captures (geduldig/TwitterAPI#180, langchain-course#7)
    return _json({"title": title, "type": "about:blank", "status": status, "detail": detail})


def _problem_body(problem: ProblemEntry, path: str) -> tuple[int, bytes]:
    type_uri = problem.slug if problem.slug == "about:blank" else PROBLEM_BASE + problem.slug
    title = problem.title or problem.slug.replace("-", " ").title()
    if problem.http_status is None:
        # Lookups and stream rules report these inside a 200, beside (or instead of) data.
        return 200, _json({"errors": [problem_item(problem, _resource_fields(path))]})
    body: dict[str, object] = dict(problem.example)
    detail = (problem.detail or problem.meaning).format(**problem.example)
    body.update({"title": title, "detail": detail, "type": type_uri})
    if problem.status_in_body:
        body["status"] = problem.http_status
    if problem.slug == "invalid-request":
        body["errors"] = [_invalid_parameter(path)]
    return problem.http_status, _json(body)


def problem_item(problem: ProblemEntry, fields: dict[str, str]) -> dict[str, object]:
    """A problem as an item of a 200's `errors`; `fields`: what the lookup asked for."""
    title = problem.title or problem.slug.replace("-", " ").title()
    detail = (problem.detail or problem.meaning).format_map({**fields, **problem.example})
    item: dict[str, object] = {}
    if "resource_type" in problem.fields:  # a lookup's problem names what it looked up
        item.update({k: v for k, v in fields.items() if k in problem.fields})
    if "section" in problem.fields:
        item["section"] = "data"
    item.update(problem.example)
    item.update({"title": title, "detail": detail, "type": PROBLEM_BASE + problem.slug})
    if not problem.detail_in_body:
        del item["detail"]
    return item


def _invalid_parameter(path: str) -> dict[str, object]:
    """The item of an invalid-request naming the request's last query parameter, in the words
    of the captured one (PLhery/node-twitter-api-v2#597)."""
    pairs = [pair.partition("=") for pair in path.partition("?")[2].split("&") if pair]
    if not pairs:
        return {
            "parameters": {"id": ["invalid"]},
            "message": "The `id` query parameter value [invalid] is not valid",
        }
    name, _, value = pairs[-1]
    return {
        "parameters": {name: [value]},
        "message": f"The query parameter [{name}] is not one of [{_SEARCH_PARAMETERS}]",
    }


_SEARCH_PARAMETERS = (
    "query,start_time,end_time,since_id,until_id,max_results,next_token,pagination_token,"
    "sort_order,expansions,tweet.fields,media.fields,poll.fields,place.fields,user.fields"
)


def _shape_body(
    shape: OddShape, api: Api, path: str, catalog: Catalog
) -> tuple[int, bytes, str | None, str]:
    entry = catalog.code(shape.like)
    assert entry is not None
    status, body = _code_body(entry, api, path, catalog)
    if shape.body is not None:
        # {path} sits inside a JSON string: escaped as the API escapes it, slashes too
        request = json.dumps(path.split("?", 1)[0])[1:-1].replace("/", "\\/")
        body = shape.body.replace("{path}", request).encode("utf-8")
    content_type = {"api": None, "": ""}.get(shape.content_type, shape.content_type)
    if not body and content_type is None:
        content_type = ""
    return status, body, content_type, shape.rate_limit


def _is_id(segment: str) -> bool:
    """A tweet or user id (digits), or a space or list id (ten or more letters and digits)."""
    return segment.isdigit() or (
        len(segment) >= 10 and segment.isalnum() and any(c.isdigit() for c in segment)
    )


def lookup(path: str) -> tuple[str, str, list[str]]:
    """What a v2 lookup asked for: the kind of resource, the parameter naming it, and the ids
    (or usernames) in the order asked; none when the path names none."""
    route, _, query = path.partition("?")
    segments = [s for s in route.split("/") if s][1:]  # after the version, /2/
    resource = _RESOURCE_TYPES.get(segments[0] if segments else "", "tweet")
    parameter, idents = "id", [s for s in reversed(segments) if _is_id(s)][:1]
    if len(segments) >= 4 and segments[1] == "by" and segments[2] in ("username", "usernames"):
        parameter, idents = "username", [segments[3]]  # /2/users/by/username/jack
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name in ("ids", "id", "usernames") and value:
            value = value.replace("%2C", ",").replace("%2c", ",")
            parameter, idents = name, [ident for ident in value.split(",") if ident]
            break
    return resource, parameter, idents


def _resource_fields(path: str) -> dict[str, str]:
    """The (first) id a lookup asked for, and what kind of resource it is, as v2 names them."""
    resource, parameter, idents = lookup(path)
    return lookup_fields(resource, parameter, idents[0] if idents else "1")


def lookup_fields(resource: str, parameter: str, ident: str) -> dict[str, str]:
    # detail texts say "the Tweet" but "the user" (zeeraktalat/hatespeech#9, twittered#157)
    name = "Tweet" if resource == "tweet" else resource
    return {
        "value": ident,
        "parameter": parameter,
        "resource_id": ident,
        "resource_type": resource,
        "resource_name": name,
    }
