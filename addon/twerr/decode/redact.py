"""Credentials never leave a flow: the one place that knows what a credential looks like.

Pure. `clean` makes any text fit for comments, logs, metadata and reports (no credentials, no
control characters, one line, bounded); `scrub` blanks credential-named values in JSON data.
The other patterns here serve the components that must recognise credentials too: the injector
(answers that hand credentials out) and the identity of a caller (its OAuth 1 key and token).
"""

from __future__ import annotations

import re
from typing import Any

TEXT_LIMIT = 500  # longest string copied from a body

# A value assigned to a name like these is a credential, wherever it is written.
_SECRET_NAME = re.compile(
    r"(?i)token|secret|signature|verifier|nonce|consumer_key|password|passwd|^ct0$|cookie"
)
# Pagination cursors are named like tokens but are not credentials: v2 echoes them in its
# invalid-request details, and a user needs to see which one was refused.
PAGINATION_NAMES = frozenset({"next_token", "previous_token", "pagination_token"})
# Fields of an API answer that hand a credential out (OAuth token endpoints, guest tokens).
CREDENTIAL_FIELD = re.compile(
    rb"(access_token|refresh_token|oauth_token|guest_token|token_secret|client_secret|password)",
    re.I,
)
# Who an OAuth 1 request comes from: its consumer key and token (not the nonce, timestamp or
# signature, which change with every request).
OAUTH_IDENTITY = re.compile(r'(oauth_consumer_key|oauth_token)="?([^",\s]*)"?')
# Every OAuth 1 parameter of a query or form body, to leave out of what identifies a request.
OAUTH_PARAMETER = re.compile(r"(^|&)oauth_[^&]*")

_BEARER = re.compile(r"(?i)\b((?:bearer|basic)\s+)[\w%.~+/=-]{16,}")
_ASSIGNMENT = re.compile(r"([\w-]{2,64})([\"']?\s*[=:]\s*[\"']?)([^\s&\"',;<>]{4,})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_secret_name(name: str) -> bool:
    """Whether a value under this name (a header, a field, a parameter) is a credential."""
    return bool(_SECRET_NAME.search(name)) and name.lower() not in PAGINATION_NAMES


def clean(value: Any) -> str:
    """Text fit for comments, logs and flow files: no credentials, no control characters or
    lone surrogates, one line, bounded."""
    text = value if isinstance(value, str) else str(value)
    text = " ".join(text[: 4 * TEXT_LIMIT].split())  # room to see a whole credential
    text = text.encode("utf-8", "replace").decode("utf-8")
    if not text.isprintable():  # the regular expressions only where they can match
        text = _CONTROL.sub("", text)
    folded = text.casefold()  # "bas": (?i)basic also matches a dotless or a dotted capital I
    if "bearer" in folded or "bas" in folded:
        text = _BEARER.sub(r"\1<redacted>", text)
    if "=" in text or ":" in text:
        text = _ASSIGNMENT.sub(_redact_assignment, text)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def _redact_assignment(match: re.Match[str]) -> str:
    name, separator, _ = match.groups()
    return f"{name}{separator}<redacted>" if is_secret_name(name) else match.group(0)


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON value whose credential-named keys have their values redacted."""
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {
            key: "<redacted>"
            if isinstance(key, str) and is_secret_name(key)
            else scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item, depth + 1) for item in value]
    return value
