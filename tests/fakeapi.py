"""A local stand-in for the Twitter API: answers each reference response at its own path."""

from __future__ import annotations

import json
import threading
import time
from email.utils import formatdate
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import unquote

import corpus
from twerr.inject.forge import reason_phrase

SAMPLE_HEADER = "x-sample"  # names the sample to answer with (several share a URL)
RESET_HEADERS = ("x-rate-limit-reset", "x-app-limit-24hour-reset", "x-user-limit-24hour-reset")
Reference = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body
SPENT_WINDOW = "spent-window"  # the x-sample that FakeApi answers with spent_window()


def success_body(path: str) -> bytes:
    """The small success the fake API answers a request naming no sample with: a v2 lookup
    answers the ids (or usernames) it asked for, as the API does."""
    if not path.startswith("/2/"):
        return b'{"id":1445880548472328192,"id_str":"1445880548472328192","text":"hello"}'
    route, _, query = path.partition("?")
    segments = route.strip("/").split("/")[1:]
    asked = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
    users = segments[:1] == ["users"]
    if "ids" in asked or "usernames" in asked:
        names = "usernames" if "usernames" in asked else "ids"
        idents = unquote(asked[names]).split(",")
        items = [_user(i) if names == "usernames" else _item(users, i) for i in idents]
        return json.dumps({"data": items}, separators=(",", ":")).encode()
    if segments[:3] == ["users", "by", "username"] and len(segments) == 4:
        item = _user(segments[3])
    elif len(segments) == 2 and segments[1].isdigit():  # /2/tweets/:id, /2/users/:id
        item = _item(users, segments[1])
    else:
        item = _item(False, "1445880548472328192")
    return json.dumps({"data": item}, separators=(",", ":")).encode()


def _item(user: bool, ident: str) -> dict[str, object]:
    if user:
        return {"id": ident, "name": "Hello", "username": f"user{ident}"}
    return {"edit_history_tweet_ids": [ident], "id": ident, "text": "hello"}


def _user(username: str) -> dict[str, object]:
    return {"id": "2244994945", "name": "Hello", "username": username}


def epoch(date: str) -> float:
    """A Date header's time (the API's v2 writes UTC where HTTP says GMT)."""
    return parsedate_to_datetime(date.replace(" UTC", " GMT")).timestamp()


def spent_window(seconds: int = 900) -> Reference:
    """A 429 with code 88 whose window resets `seconds` after its Date. Served as a reference,
    its Date is made now at each answer and its reset moved along: the reset is always
    `seconds` ahead, so a client that retries at once retries before it."""
    headers = dict(corpus.load().presets["v1"])
    headers |= {
        "x-rate-limit-limit": "180",
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(int(epoch(headers["date"])) + seconds),
    }
    body = b'{"errors":[{"code":88,"message":"Rate limit exceeded"}]}'
    return 429, sorted(headers.items()), body


class FakeApi:
    """Serves the corpus on 127.0.0.1: the sample named by the x-sample request header, or
    a small success for requests that name none. Every request is recorded. The references
    (and spent_window(), named SPENT_WINDOW) answer any path; their Date is made now."""

    def __init__(self, references: dict[str, Reference] | None = None) -> None:
        self.references = {SPENT_WINDOW: spent_window(), **(references or {})}
        self.samples = {s.id: s for s in corpus.load().responses}
        self.presets = corpus.load().presets
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                api.requests.append((self.command, self.path, dict(self.headers)))
                if SAMPLE_HEADER not in self.headers:
                    self.succeed()
                    return
                reference = api.references.get(self.headers[SAMPLE_HEADER])
                if reference is not None:
                    self.send(*reference, shift=True)
                    return
                sample = api.samples.get(self.headers.get(SAMPLE_HEADER, ""))
                route = self.path.split("?", 1)[0]
                if sample is None or (sample.method, sample.route) != (self.command, route):
                    self.send_error(599, "no such sample")
                    return
                self.send_response_only(sample.status, reason_phrase(sample.status))
                for name, value in sample.response_headers(api.presets):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(sample.raw_body)

            def send(
                self, status: int, headers: list[tuple[str, str]], body: bytes, shift: bool
            ) -> None:
                """A response; shifted: its Date made now, its resets moved along with it."""
                self.send_response_only(status, reason_phrase(status))
                fields = dict(headers)
                if shift and "date" in fields:
                    moved = time.time() - epoch(fields["date"])
                    for name in RESET_HEADERS:
                        if fields.get(name, "").isdigit():
                            fields[name] = str(int(int(fields[name]) + moved))
                    gmt = formatdate(time.time(), usegmt=True)
                    fields["date"] = gmt.replace(" GMT", " UTC") if "UTC" in fields["date"] else gmt
                fields["content-length"] = str(len(body))
                for name, value in fields.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def succeed(self) -> None:
                """Any other request: a small success, as the API's own."""
                body = success_body(self.path)
                self.send_response_only(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
