"""The `twerr_scope` option: which flows twerr decodes, annotates and may inject into."""

from __future__ import annotations

from mitmproxy import addonmanager
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import flowfilter
from mitmproxy import http
from mitmproxy.net.http import url

from twerr.matcher import check_nesting
from twerr.matcher import matches

# Quoted, because a bare | is the filter language's "or"; [.] because quoting eats backslashes.
DEFAULT_SCOPE = '~d "^(api|upload|stream|ads-api)[.](twitter|x)[.]com$"'


def parse_scope(expression: str) -> flowfilter.TFilter:
    if not expression.strip():
        raise ValueError("empty filter; use '~all' to classify every flow")
    parsed = flowfilter.parse(expression)
    check_nesting(parsed)
    return parsed


class Scope:
    """Owns the option; the other twerr addons ask it whether a flow is theirs."""

    def __init__(self) -> None:
        self.filter: flowfilter.TFilter = parse_scope(DEFAULT_SCOPE)

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "twerr_scope",
            str,
            DEFAULT_SCOPE,
            "Which flows twerr decodes, annotates and may inject into, as a mitmproxy filter "
            f"expression. The default, '{DEFAULT_SCOPE}', matches the Twitter/X API hosts "
            "(api, upload, stream and ads-api on twitter.com and x.com); '~all' matches "
            "every flow. Flows outside the scope are never touched.",
        )

    def configure(self, updated: set[str]) -> None:
        if "twerr_scope" in updated:
            try:
                self.filter = parse_scope(ctx.options.twerr_scope)
            except ValueError as e:
                raise exceptions.OptionsError(
                    f"Cannot parse twerr_scope option {ctx.options.twerr_scope!r}: {e}"
                ) from e

    def __call__(self, flow: http.HTTPFlow) -> bool:
        return matches(self.filter, flow)


def request_header(request: http.Request, name: bytes) -> str | None:
    """The first value of a request header (name in lower case). mitmproxy's `headers.get`
    decodes every name to compare it and joins repeated values: several times the cost, on a
    path every flow takes."""
    for key, value in request.data.headers.fields:
        if key.lower() == name:
            return value.decode("utf-8", "surrogateescape")
    return None


def requested_host(request: http.Request) -> str:
    """The host the client asked for (HTTP/2's :authority or the Host header, as in reverse
    mode; else the connection's), without its port: what `Request.pretty_host` gives, without
    its IDNA validation."""
    data = request.data
    authority = ""
    if data.authority and data.http_version in _AUTHORITY_VERSIONS:
        authority = data.authority.decode("utf-8", "surrogateescape")
    authority = authority or request_header(request, b"host") or request.host
    host, colon, port = authority.rpartition(":")
    return host if colon and port.isdigit() and not host.endswith(":") else authority


_AUTHORITY_VERSIONS = (b"HTTP/2.0", b"HTTP/3")


_DROPPED_BY_URL_PARSING = str.maketrans("", "", "\t\r\n")


def request_query(request: http.Request) -> list[tuple[str, str]]:
    """The query's pairs, as `request.query` gives them, read from the path alone: that
    parses the whole URL, and raises for a host that cannot be in one (a bracket in a SOCKS
    client's host name, say)."""
    path = request.path.translate(_DROPPED_BY_URL_PARSING)
    return url.decode(path.partition("#")[0].partition("?")[2])
