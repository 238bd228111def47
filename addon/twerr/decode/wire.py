"""The wire: which headers the decoder reads, content-encodings and charsets. Pure.

Decompression is bounded (at most `limit` + 1 bytes come out, however much went in), so a
decompression bomb costs what is read, not what it would inflate to.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from twerr.decode.ratelimit import WINDOW_HEADERS
from twerr.decode.redact import clean

try:
    import brotli
except ImportError:  # pragma: no cover - mitmproxy depends on it
    brotli = None
try:
    from compression import zstd
except ImportError:
    try:
        from backports import zstd
    except ImportError:  # pragma: no cover - mitmproxy depends on it
        zstd = None

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]

_READ_HEADERS = frozenset(
    ["content-type", "content-encoding", "retry-after", "date"]
    + [name for names in WINDOW_HEADERS for name in names]
)
_READ_HEADER_KEYS: dict[str | bytes, str] = {
    **{name: name for name in _READ_HEADERS},
    **{name.encode(): name for name in _READ_HEADERS},
}


_READ_BYTES = {name.encode(): name for name in _READ_HEADERS}


def read_headers(headers: Headers) -> dict[str, str]:
    """The headers the decoder reads, by lower-case name (the first of repeated ones)."""
    if type(headers) is tuple:  # mitmproxy's raw fields: the usual case, read in a tight loop
        try:
            out: dict[str, str] = {}
            for name, value in headers:
                key = _READ_BYTES.get(name)
                if key is None:
                    if type(name) is bytes and name.islower():
                        continue  # lower case, as HTTP/2 requires and the API sends them
                    break  # a name in another case or type: read them all the general way
                if type(value) is not bytes:
                    break  # as the general way reads it: a bytes value, or a str
                if key not in out:
                    out[key] = value.decode("latin-1")
            else:
                return out
        except (TypeError, ValueError, AttributeError):
            pass  # not pairs of bytes: the general way copes
    items = headers if type(headers) is tuple else _items(headers)
    out = {}
    for name, value in items:
        # one dict lookup per header when the name is lower-case (HTTP/2 requires it; the
        # API sends them so), as mitmproxy's bytes or as text
        try:
            key = _READ_HEADER_KEYS.get(name)
        except TypeError:  # unhashable: not a name
            continue
        if key is None:
            if (type(name) is bytes and name.islower()) or not isinstance(name, (str, bytes)):
                continue
            key = _READ_HEADER_KEYS.get(name.lower())
            if key is None:
                continue
        if key in out:
            continue
        if isinstance(value, bytes):
            out[key] = value.decode("latin-1")
        elif isinstance(value, str):
            out[key] = value
    return out


def _items(headers: Headers) -> Iterable[tuple[Any, Any]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def decompress(body: bytes, encoding: str, limit: int) -> tuple[bytes, str]:
    """Undo Content-Encoding, keeping at most `limit` + 1 decompressed bytes (so a caller can
    tell that there was more). Returns (bytes, problem)."""
    if not encoding:
        return body, ""
    for name in reversed([e.strip() for e in encoding.lower().split(",")]):
        if name in ("", "identity"):
            continue
        try:
            decoded = _decompress_one(body, name, limit)
        except Exception as e:  # zlib.error, brotli.error, zstd.ZstdError, EOFError...
            return b"", f"{clean(name)} body could not be decompressed ({type(e).__name__})"
        if decoded is None:
            return b"", f"unsupported content-encoding {clean(name)[:40]!r}"
        body, complete = decoded
        if not complete and len(body) <= limit:
            return body, f"{name} body is truncated"
    return body, ""


def _decompress_one(body: bytes, name: str, limit: int) -> tuple[bytes, bool] | None:
    """At most limit + 1 decompressed bytes, and whether the compressed stream was complete."""
    if name in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if "gzip" in name else zlib.MAX_WBITS
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            if name != "deflate":
                raise
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # servers send raw deflate too
            out = inflater.decompress(body, limit + 1)
        return out, inflater.eof
    if name == "br" and brotli is not None:
        decompressor = brotli.Decompressor()
        out = decompressor.process(body, output_buffer_limit=limit + 1)
        return out, decompressor.is_finished()
    if name == "zstd" and zstd is not None:
        zstd_decompressor = zstd.ZstdDecompressor()
        out = zstd_decompressor.decompress(body, max_length=limit + 1)
        return out, zstd_decompressor.eof
    return None


def charset(content_type: str) -> str:
    """The declared charset's canonical name; utf-8 when none (or an unknown one) is declared."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type)
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def as_text(content: bytes, content_type: str) -> str:
    try:
        return content.decode(charset(content_type), "replace")
    except Exception:  # a codec that fails on bytes anyway (e.g. a text-only transform)
        return content.decode("utf-8", "replace")
