"""Every use of mitmproxy's internals, in one place: each says why, and the version it was
checked against. A mitmproxy upgrade reads this module first.

twerr otherwise uses mitmproxy's public API only: hooks, options, commands, flows, filters,
content views and flow files.
"""

from __future__ import annotations

import logging
import socket
import struct

from mitmproxy import ctx
from mitmproxy import http
from mitmproxy import log

# flowfilter's node classes (12.3.1): the injector's matcher rebuilds a parsed filter into a
# predicate that reads the URL and host once per flow for all rules, and the rules refuse
# filters that look at a response. mitmproxy documents the filter language, not these classes.
from mitmproxy.flowfilter import FAnd
from mitmproxy.flowfilter import FBod
from mitmproxy.flowfilter import FBodRequest
from mitmproxy.flowfilter import FBodResponse
from mitmproxy.flowfilter import FCode
from mitmproxy.flowfilter import FContentTypeResponse
from mitmproxy.flowfilter import FDomain
from mitmproxy.flowfilter import FErr
from mitmproxy.flowfilter import FHead
from mitmproxy.flowfilter import FHeadRequest
from mitmproxy.flowfilter import FHeadResponse
from mitmproxy.flowfilter import FNot
from mitmproxy.flowfilter import FOr
from mitmproxy.flowfilter import FResp
from mitmproxy.flowfilter import FUrl
from mitmproxy.net.http import url

from twerr.record import storable

logger = logging.getLogger(__name__)

__all__ = [
    "FAnd",
    "FBod",
    "FBodRequest",
    "FBodResponse",
    "FCode",
    "FContentTypeResponse",
    "FDomain",
    "FErr",
    "FHead",
    "FHeadRequest",
    "FHeadResponse",
    "FNot",
    "FOr",
    "FResp",
    "FUrl",
]


def keep_out_of_event_log(logger_name: str) -> None:
    """mitmproxy (12.3.1) turns every log record into a deprecated `add_log` event, sent to
    every addon on a later turn of the event loop through `log.LegacyLogEvents` handlers: five
    times what the line itself costs. twerr's per-flow lines skip it; the terminal and the
    UIs' event logs still show them."""
    for handler in _legacy_log_handlers():
        handler.addFilter(_NotFrom(logger_name))


def back_into_event_log(logger_name: str) -> None:
    for handler in _legacy_log_handlers():
        for kept in [f for f in handler.filters if isinstance(f, _NotFrom)]:
            if kept.name == logger_name:
                handler.removeFilter(kept)


class _NotFrom(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != self.name


def _legacy_log_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, log.LegacyLogEvents)]


def reset_client(flow: http.HTTPFlow) -> bool:
    """Drop the client connection with a TCP reset (RST) instead of the orderly close that
    killing a flow sends. mitmproxy (12.3.1) exposes no way to do it: this reaches into the
    proxy server's connection table for the client's asyncio transport. False when it could
    not (the caller then kills the flow alone)."""
    try:
        handler = ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]
        transport = handler.transports[flow.client_conn].writer.transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    except (AttributeError, KeyError, OSError) as e:
        logger.debug(f"twerr: reset falls back to a plain close: {e!r}")
        return False
    return True


def request_header(request: http.Request, name: bytes) -> str | None:
    """The first value of a request header (name in lower case), read from the raw fields of
    `request.data` (12.3.1). mitmproxy's `headers.get` decodes every name to compare it and
    joins repeated values: several times the cost, on a path every flow takes."""
    for key, value in request.data.headers.fields:
        if key.lower() == name:
            return value.decode("utf-8", "surrogateescape")
    return None


_AUTHORITY_VERSIONS = (b"HTTP/2.0", b"HTTP/3")


def requested_host(request: http.Request) -> str:
    """The host the client asked for (HTTP/2's :authority or the Host header, as in reverse
    mode; else the connection's), without its port: what `Request.pretty_host` gives, read
    from `request.data` (12.3.1) without its IDNA validation, which costs every flow."""
    data = request.data
    authority = ""
    if data.authority and data.http_version in _AUTHORITY_VERSIONS:
        authority = data.authority.decode("utf-8", "surrogateescape")
    authority = authority or request_header(request, b"host") or request.host
    host, colon, port = authority.rpartition(":")
    return host if colon and port.isdigit() and not host.endswith(":") else authority


_DROPPED_BY_URL_PARSING = str.maketrans("", "", "\t\r\n")


def request_query(request: http.Request) -> list[tuple[str, str]]:
    """The query's pairs, as `request.query` gives them, read from the path alone with
    mitmproxy's own `net.http.url.decode` (12.3.1): `request.query` parses the whole URL, and
    raises for a host that cannot be in one (a bracket in a SOCKS client's host name)."""
    path = request.path.translate(_DROPPED_BY_URL_PARSING)
    return url.decode(path.partition("#")[0].partition("?")[2])


def endpoint(flow: http.HTTPFlow) -> str:
    """Method, host and path, without the query string (it can carry oauth_* values)."""
    request = flow.request
    path = request.path.split("?", 1)[0]
    return storable(f"{request.method} {requested_host(request)}{path}")


def add_last(addon: object) -> None:
    """Put an addon at the end of mitmproxy's chain, after map-remote and the like (12.3.1:
    `AddonManager.add` appends)."""
    ctx.master.addons.add(addon)


def remove(addon: object) -> None:
    ctx.master.addons.remove(addon)


def is_loaded(addon: object, name: str) -> bool:
    """Whether `addon` is the one mitmproxy runs under `name`, not a copy a `script.run`
    loaded to replay flows (12.3.1: addons are named by their class, lower case)."""
    return ctx.master.addons.get(name) is addon


def listen_port() -> int:
    """The port the proxy listens on, once it runs: the one the system chose for
    `--listen-port 0` (12.3.1: the proxyserver addon's `listen_addrs`, not a documented API)."""
    return int(ctx.master.addons.get("proxyserver").listen_addrs()[0][1])
