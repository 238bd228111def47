"""A bug in a twerr hook must cost the user twerr's work on one flow, never the flow itself.

mitmproxy's addon manager already catches what a hook raises and logs "Addon error" with a
traceback, but it neither says which flow nor undoes what the hook had done before it failed:
a half-written annotation (a comment without its metadata), a forged response half made, a
stream flag flipped. `hook` wraps a flow hook (sync, or one returning an awaitable) so that an
exception puts back what twerr may have changed on the flow, is logged once with the flow's
endpoint (never its query string, headers or body), and lets the flow go on as if twerr had not
been there.
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from mitmproxy import flow as mitmflow
from mitmproxy import http

from twerr import mitm
from twerr.decode.redact import clean

logger = logging.getLogger("twerr")


class _Saved:
    """What twerr's hooks may change on a flow, taken before the hook runs (cheap: no copies
    of bodies, only references and a shallow copy of twerr's own metadata)."""

    __slots__ = (
        "comment",
        "error",
        "intercepted",
        "live",
        "marked",
        "meta",
        "request_stream",
        "response",
        "response_stream",
    )

    def __init__(self, flow: http.HTTPFlow) -> None:
        self.comment = flow.comment
        self.marked = flow.marked
        meta = flow.metadata.get("twerr", _MISSING)
        self.meta = dict(meta) if isinstance(meta, dict) else meta
        self.response = flow.response
        self.response_stream = flow.response.stream if flow.response is not None else False
        self.request_stream = flow.request.stream
        self.error = flow.error
        self.live = flow.live
        self.intercepted = flow.intercepted

    def restore(self, flow: http.HTTPFlow) -> None:
        flow.comment = self.comment
        flow.marked = self.marked
        if self.meta is _MISSING:
            flow.metadata.pop("twerr", None)
        else:
            flow.metadata["twerr"] = self.meta
        flow.response = self.response
        if self.response is not None:
            self.response.stream = self.response_stream
        flow.request.stream = self.request_stream
        if self.error is None and flow.error is not None:  # killed by the failing hook
            flow.error = None
            flow.live = self.live
            flow.intercepted = self.intercepted


_MISSING: Any = object()


def hook[Addon](
    method: Callable[..., Any],
) -> Callable[..., Any]:
    """Guard a flow hook, or the part of one past its cheap checks (`_request` for `request`:
    a guard costs about a microsecond, every flow); what it returns (None or an awaitable) is
    passed on, guarded too. Keeps `inspect.markcoroutinefunction`'s mark, so mitmproxy still
    refuses a sync call."""
    name = method.__qualname__.replace("._", ".")  # Injector._request fails as Injector.request

    @functools.wraps(method)
    def guarded(addon: Addon, flow: http.HTTPFlow, *args: Any) -> Any:
        saved = _Saved(flow)
        try:
            result = method(addon, flow, *args)
        except Exception as e:
            _recover(addon, flow, saved, name, e)
            return None
        if result is not None and inspect.isawaitable(result):
            return _finish(addon, flow, saved, name, result)
        return result

    if inspect.iscoroutinefunction(method):  # an async def hook stays one for mitmproxy
        return inspect.markcoroutinefunction(guarded)
    return guarded


async def _finish(
    addon: Any, flow: http.HTTPFlow, saved: _Saved, name: str, result: Awaitable[Any]
) -> None:
    try:
        await result
    except Exception as e:
        _recover(addon, flow, saved, name, e)


def _recover(addon: Any, flow: http.HTTPFlow, saved: _Saved, name: str, error: Exception) -> None:
    saved.restore(flow)
    forget = getattr(addon, "forget", None)
    if callable(forget):
        try:
            forget(flow)
        except Exception:  # the cleanup of a failed hook must not fail the flow either
            logger.debug("twerr: forgetting the flow failed", exc_info=True)
    log_failure(flow, name, error)


def log_failure(flow: http.HTTPFlow, name: str, error: Exception) -> None:
    """The one line a failure costs: which flow (no query string), which hook, what."""
    logger.error(
        f"twerr: {name} failed on {describe(flow)}; the flow goes on untouched by twerr. "
        f"{type(error).__name__}: {_scrubbed(error)}\n"
        + "".join(traceback.format_tb(error.__traceback__)).rstrip()
    )


def describe(flow: mitmflow.Flow) -> str:
    """The flow's id, method, host and path: no query string (it can carry oauth_* values)."""
    if not isinstance(flow, http.HTTPFlow):
        return f"flow {flow.id}"
    try:
        return f"flow {flow.id} ({mitm.endpoint(flow)})"
    except Exception:
        return f"flow {flow.id}"


def _scrubbed(error: Exception) -> str:
    """The exception's message, cleaned as anything twerr copies from a flow (a message can
    quote a header or a body)."""
    try:
        return clean(str(error))
    except Exception:
        return "(no message)"
