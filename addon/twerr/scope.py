"""The `twerr_scope` option: which flows twerr decodes, annotates and may inject into."""

from __future__ import annotations

from typing import Any

from mitmproxy import addonmanager
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import flowfilter
from mitmproxy import http

# Quoted, because a bare | is the filter language's "or"; [.] because quoting eats backslashes.
DEFAULT_SCOPE = '~d "^(api|upload|stream|ads-api)[.](twitter|x)[.]com$"'


def parse_scope(expression: str) -> flowfilter.TFilter:
    if not expression.strip():
        raise ValueError("empty filter; use '~all' to classify every flow")
    return flowfilter.parse(expression)


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
        return bool(self.filter(flow))

    def annotated(self, flow: http.HTTPFlow) -> dict[str, Any] | None:
        """What the classifier wrote on an in-scope flow; None for any other flow, including
        one read from a file with what an earlier run wrote outside today's scope."""
        meta = flow.metadata.get("twerr")
        if isinstance(meta, dict) and "category" in meta and self(flow):
            return meta
        return None
