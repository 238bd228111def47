"""A partial error made from the API's own answer. Pure.

A lookup (`GET /2/tweets?ids=1,2,3`, `/2/users/by?usernames=...`, `/2/tweets/:id`) answers
the items it found in `data` and reports the others in `errors`, in a 200. A partial fault
(resource-not-found, not-authorized-for-resource) lets the request reach the API, then moves
one of the requested items the API found from `data` to `errors`, as the API reports it:
the rest of the answer stays, its `includes` lose what only that item named, and a
`meta.result_count` counts what is left. Which item is the seed's and the request's: the
same seed and the same request give the same choice.
"""

from __future__ import annotations

import json
import random
from typing import Any

from twerr.catalog import ProblemEntry
from twerr.inject.forge import lookup
from twerr.inject.forge import lookup_fields
from twerr.inject.forge import problem_item

MAX_ANSWER = 8 << 20  # a lookup answer is small; a larger body is left alone
_INCLUDED_IDS = ("id", "media_key")  # what names an object in `includes`


def rewrite(problem: ProblemEntry, body: bytes, path: str, seed: int) -> bytes | None:
    """The answer with one requested item moved from `data` to `errors`; None when the body
    is not a JSON lookup answer whose `data` holds an item the request asked for."""
    if len(body) > MAX_ANSWER:
        return None
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(answer, dict):
        return None
    data = answer.get("data")
    listed: list[Any] = data if isinstance(data, list) else [data]
    items = [item for item in listed if isinstance(item, dict)]
    if not items or len(items) != len(listed):
        return None
    # bytes that are not UTF-8 (lone surrogates in mitmproxy's path) as forge reads them
    path = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    resource, parameter, idents = lookup(path)
    key = "username" if parameter.startswith("username") else "id"
    asked = {_normal(ident, key): ident for ident in idents}
    found = [
        (item, asked[_normal(item.get(key), key)])
        for item in items
        if _normal(item.get(key), key) in asked
    ]
    if not found:
        return None
    chosen, ident = random.Random(f"{seed} {path}").choice(found)
    kept = [item for item in items if item is not chosen]
    item = problem_item(problem, lookup_fields(resource, parameter, ident))
    out: dict[str, Any] = {}
    for name, value in answer.items():
        if name == "data":
            if isinstance(data, list) and kept:
                out[name] = kept
        elif name == "includes":
            included = _prune(value, chosen, kept)
            if included:
                out[name] = included
        elif name == "meta" and isinstance(value, dict) and "result_count" in value:
            out[name] = {**value, "result_count": len(kept)}
        else:
            out[name] = value
    errors = answer.get("errors")
    out["errors"] = [*(errors if isinstance(errors, list) else []), item]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _normal(value: object, key: str) -> str | None:
    """An id as the request and the answer both spell it (usernames ignore case)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).lower() if key == "username" else str(value)


def _prune(includes: object, chosen: dict[str, Any], kept: list[dict[str, Any]]) -> object:
    """The expansions less the objects only the removed item referred to."""
    if not isinstance(includes, dict):
        return includes
    gone = _scalars(chosen) - set().union(*map(_scalars, kept))
    out = {}
    for name, objects in includes.items():
        if isinstance(objects, list):
            objects = [
                obj
                for obj in objects
                if not (isinstance(obj, dict) and any(_key(obj, k) in gone for k in _INCLUDED_IDS))
            ]
            if not objects:
                continue
        out[name] = objects
    return out


def _key(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _scalars(value: object, depth: int = 0) -> set[str]:
    """Every string and number inside a JSON value, as strings: what an item refers to."""
    if depth > 32:
        return set()
    if isinstance(value, dict):
        return set().union(*(_scalars(v, depth + 1) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_scalars(v, depth + 1) for v in value))
    if isinstance(value, str | int) and not isinstance(value, bool):
        return {str(value)}
    return set()
