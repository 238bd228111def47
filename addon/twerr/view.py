"""The "Twitter Error" content view, chosen automatically for classified Twitter errors."""

from __future__ import annotations

from mitmproxy import contentviews
from mitmproxy import http
from mitmproxy.contentviews import Metadata

from twerr import explain
from twerr import record
from twerr.decode import decode
from twerr.record import Record

PRIORITY = 2  # above the JSON view's 1, so auto mode picks this view for Twitter errors


class TwitterErrorContentview(contentviews.Contentview):
    name = "Twitter Error"
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: Metadata) -> str:
        meta = _twerr_metadata(metadata) or _decode_now(data, metadata)
        if meta is None or not explain.worth_a_view(meta):
            raise ValueError("not a Twitter API error response")
        return explain.render(meta, data)

    def render_priority(self, data: bytes, metadata: Metadata) -> float:
        meta = _twerr_metadata(metadata)
        return PRIORITY if meta is not None and explain.worth_a_view(meta) else -1


twitter_error_view = TwitterErrorContentview()


def _twerr_metadata(metadata: Metadata) -> Record | None:
    """The classifier's result, when the view renders the response of a classified flow."""
    flow = metadata.flow
    if not isinstance(flow, http.HTTPFlow) or flow.response is None:
        return None
    if metadata.http_message is not flow.response:
        return None
    meta = record.record_of(flow)
    if meta is None:
        return None
    try:  # a flow file can hold anything here: what does not render is decoded afresh
        if explain.worth_a_view(meta):
            explain.render(meta, b"")
    except Exception:
        return None
    return meta


def _decode_now(data: bytes, metadata: Metadata) -> Record | None:
    """Chosen by hand for a flow the classifier did not see: decode the shown response."""
    message = metadata.http_message
    if not isinstance(message, http.Response):
        return None
    path = metadata.flow.request.path if isinstance(metadata.flow, http.HTTPFlow) else ""
    headers = [(k, v) for k, v in message.headers.items() if k.lower() != "content-encoding"]
    return record.of_decoded(decode(message.status_code, headers, data, path=path))
