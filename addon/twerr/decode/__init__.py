"""Decode a Twitter/X API response into what it means. Pure: no mitmproxy, no I/O, never raises.

- `wire`: which headers are read, content-encodings, charsets (bounded decompression);
- `shapes`: the entry points (`decode`, `decode_failure`) and the wire-level dispatch;
- `body`: one response being read: the JSON shapes of its body, and the result;
- `decoded`: what a decoding gives (`Decoded`, the shapes);
- `advice`: what each error means and what to do, from the catalog;
- `ratelimit`: the rate-limit headers, and when a request can succeed again;
- `redact`: what a credential looks like, so none is ever copied out of a flow.
"""

from twerr.decode.advice import ApiError
from twerr.decode.decoded import PARTIAL_SHAPES
from twerr.decode.decoded import Decoded
from twerr.decode.decoded import Shape
from twerr.decode.ratelimit import RateLimit
from twerr.decode.ratelimit import Window
from twerr.decode.ratelimit import utc
from twerr.decode.shapes import decode
from twerr.decode.shapes import decode_failure

__all__ = [
    "PARTIAL_SHAPES",
    "ApiError",
    "Decoded",
    "RateLimit",
    "Shape",
    "Window",
    "decode",
    "decode_failure",
    "utc",
]
