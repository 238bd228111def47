"""The reference responses of tests/data/corpus.toml, as wire bytes, validated by pydantic."""

from __future__ import annotations

import functools
import gzip
import tomllib
import uuid
import zlib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import brotli
from mitmproxy import connection
from mitmproxy import http
from pydantic import BaseModel
from pydantic import ConfigDict

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[no-redef]

CORPUS_PATH = Path(__file__).parent / "data" / "corpus.toml"

# Credentials the sample requests carry (made up, shaped like real ones), so tests can prove
# that none of them ever reaches an annotation.
OAUTH_TOKEN = "1072250532645998596-Zq8dNbTm4ExampleAccessToken0001"
OAUTH_SIGNATURE = "tnnArxj06cWHq44gCs1OSKk%2FjLY%3D"
COOKIE_VALUE = "v1%3A166518322812345678"
SECRETS = (OAUTH_TOKEN[:-4], OAUTH_SIGNATURE, COOKIE_VALUE, "xvz1evFS4wEEPTGEFPHBog")
REQUEST_HEADERS = {
    "user-agent": "Tweepy/4.16.0 Python/3.12.1 Requests/2.32.3",
    "accept-encoding": "gzip, deflate",
    "authorization": (
        'OAuth oauth_nonce="2374802338173931581664869389", oauth_timestamp="1664869389", '
        'oauth_version="1.0", oauth_signature_method="HMAC-SHA1", '
        f'oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_token="{OAUTH_TOKEN}", '
        f'oauth_signature="{OAUTH_SIGNATURE}"'
    ),
    "cookie": f"guest_id={COOKIE_VALUE}",
}


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shape: str
    category: str
    api: Literal["v1.1", "v2"] | None = None
    codes: list[int] = []
    types: list[str] = []  # v2 problem slugs
    unknown: bool = False  # the code or type is not in the catalog
    retry_at: int | None = None


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    method: str
    url: str
    status: int
    preset: str
    headers: dict[str, str] = {}
    encoding: Literal["gzip", "deflate", "br", "zstd"] | None = None
    charset: str = "utf-8"
    body: str
    source: str
    expect: Expect

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def route(self) -> str:
        return urlsplit(self.url).path

    @property
    def raw_body(self) -> bytes:
        """The body as it went over the wire: in its charset, then content-encoded."""
        return encode(self.body.encode(self.charset), self.encoding)

    def response_headers(self, presets: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
        headers = {**presets[self.preset], **self.headers}
        if self.encoding:
            headers["content-encoding"] = self.encoding
        headers["content-length"] = str(len(self.raw_body))
        return sorted(headers.items())


class Corpus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presets: dict[str, dict[str, str]]
    responses: list[Sample]


# The problem-type host of the captures made before X switched its v2 problems to api.x.com
# (mid-2026: xdevplatform/twitter-api-java-sdk PR #85; docs/catalog-sources.md).
OLD_PROBLEM_BASE = "https://api.twitter.com/2/problems/"
PROBLEM_BASE = "https://api.x.com/2/problems/"


def as_sent_today(body: str) -> str:
    """A captured body as X sends it since the switch: its problem types under api.x.com."""
    return body.replace(OLD_PROBLEM_BASE, PROBLEM_BASE)


def encode(data: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return brotli.compress(data)
    if encoding == "zstd":
        return zstd.compress(data)
    return data


@functools.cache
def load() -> Corpus:
    corpus = Corpus.model_validate(tomllib.loads(CORPUS_PATH.read_text(encoding="utf-8")))
    ids = [sample.id for sample in corpus.responses]
    assert len(ids) == len(set(ids)), "duplicate sample ids"
    return corpus


EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: the bundled flows carry fixed times and ids
UUIDS = uuid.UUID("6f1e5a2c-7d4b-4c1e-9a3f-2b8d0c6e4f10")


def make_flow(sample: Sample, index: int = 0) -> http.HTTPFlow:
    """A complete HTTPFlow for a sample, reproducible byte for byte (public mitmproxy API only)."""
    start = float(EPOCH + 10 * index)
    parts = urlsplit(sample.url)
    client = connection.Client(
        peername=("127.0.0.1", 50000 + index),
        sockname=("127.0.0.1", 8080),
        timestamp_start=start,
    )
    client.id = str(uuid.uuid5(UUIDS, f"client {sample.id}"))
    server = connection.Server(address=(parts.hostname or "", 443))
    server.id = str(uuid.uuid5(UUIDS, f"server {sample.id}"))
    server.peername = ("104.244.42.66", 443)
    server.timestamp_start = start + 0.01
    flow = http.HTTPFlow(client, server)
    flow.id = str(uuid.uuid5(UUIDS, sample.id))
    flow.timestamp_created = start
    headers = {"host": parts.hostname or "", **REQUEST_HEADERS}
    # each sample comes from another user (a token of its own), as the samples are unrelated:
    # the audit must not read them as one client's session
    user_token = f"{OAUTH_TOKEN[:-4]}{index + 1:04d}"
    headers["authorization"] = headers["authorization"].replace(OAUTH_TOKEN, user_token)
    flow.request = http.Request.make(sample.method, sample.url, b"", headers)
    flow.request.timestamp_start = start + 0.02
    flow.request.timestamp_end = start + 0.03
    response_headers = sample.response_headers(load().presets)
    flow.response = http.Response.make(sample.status, b"", dict(response_headers))
    flow.response.raw_content = sample.raw_body
    flow.response.headers["content-length"] = str(len(sample.raw_body))
    flow.response.timestamp_start = start + 0.2
    flow.response.timestamp_end = start + 0.21
    flow.live = False
    return flow


def make_flows() -> list[http.HTTPFlow]:
    return [make_flow(sample, i) for i, sample in enumerate(load().responses)]
