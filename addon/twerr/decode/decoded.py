"""What a decoding gives: a response's shape, its errors with their advice, and its rate limit.
Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twerr.catalog import Category
from twerr.catalog import Retry
from twerr.decode.advice import ApiError
from twerr.decode.ratelimit import RateLimit

Shape = Literal[
    "success",  # a 1xx-3xx response with nothing wrong in it
    "v1.1-errors",  # {"errors":[{"code":..,"message":..}]}
    "v1.1-error",  # {"error":"...","request":"..."} (legacy endpoints, media upload)
    "v2-problem",  # a problem-details object {"type","title","detail",...} (+ errors[] for 400s)
    "v2-partial",  # a 2xx with "data" and problem objects in "errors"
    "v2-errors",  # problem objects in "errors" and no "data" ("not found" in a 200, in-stream)
    "oauth2",  # RFC 6749 {"error":"invalid_request","error_description":"..."}
    "oauth-xml",  # <errors><error code="415">...</error></errors> from /oauth/*
    "media-processing",  # a 2xx whose processing_info says the upload failed
    "html",  # an HTML page from the edge (over capacity, Jetty 401, ...)
    "text",  # a plain-text error ("Rate limit exceeded", OAuth endpoints)
    "empty",  # an error status with no body (420, 429, 503, 413)
    "unexpected-json",  # valid JSON in none of the API's shapes (an array, "errors":"text")
    "undecodable",  # bytes that cannot be read: truncated JSON, bad compression, binary
    "streamed",  # the body was streamed to the client and is not available
    "transport-error",  # no complete response: connection reset, timeout, killed
]
Api = Literal["v1.1", "v2"] | None
PARTIAL_SHAPES = ("v2-partial", "v2-errors", "media-processing")  # errors beside a success


@dataclass(slots=True)
class Decoded:
    status: int
    status_text: str  # "No response" with status 0: the connection failed, as browsers say
    api: Api
    shape: Shape
    errors: tuple[ApiError, ...] = ()
    rate_limit: RateLimit | None = None
    note: str = ""  # how the body was read, when that is worth saying
    headline: ApiError | None = None  # the most severe error

    @property
    def category(self) -> Category:
        return self.headline.category if self.headline else "success"

    @property
    def retry(self) -> Retry:
        return self.headline.retry if self.headline else "never"

    @property
    def retry_at(self) -> int | None:
        """Epoch seconds after which a retry can help, when the headers say."""
        rate, error = self.rate_limit, self.headline
        if rate is None or error is None or error.retry == "never":
            return None
        if error.retry == "backoff" or error.resets == "unknown":
            return rate.retry_after_at
        if error.resets == "day":
            return rate.day_reset_at or rate.retry_after_at
        return rate.reset_at
