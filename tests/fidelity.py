"""The fidelity matrix: real client libraries see twerr's forged errors as they see the API's.

Each case is one error on one endpoint. The fake API serves its reference response (a real one
from the corpus where one was captured, else the documented one built from the catalog's
message and status); twerr forges the same error from an `X-Twerr-Inject` header. Both go
through the same real mitmdump to the same client, and the client's view (exception class,
codes, messages, rate-limit reset, what it does next) must be the same. Used by
tests/e2e/test_fidelity.py and scripts/fidelity, which prints the matrix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from unittest import mock

import requests
import tweepy
import twython
from requests.adapters import HTTPAdapter

import corpus
from fakeapi import SAMPLE_HEADER
from fakeapi import FakeApi
from fakeapi import epoch
from faultyserver import FaultyServer
from processes import ROOT
from processes import Mitmdump
from twerr.catalog import load_catalog
from twerr.inject.forge import reason_phrase

logging.getLogger("tweepy").setLevel(logging.ERROR)  # "Sleeping for 900 seconds": we know

INJECT_HEADER = "X-Twerr-Inject"
NODE_DIR = ROOT / "tests" / "node"
TOKENS = ("ck-fidelity", "cs-fidelity", "at-fidelity", "ats-fidelity")
BEARER = "AAAAAAAAAAAAAAAAAAAAAfidelityBearer"
PRESETS = corpus.load().presets
SAMPLES = {sample.id: sample for sample in corpus.load().responses}


@dataclass(frozen=True)
class Case:
    id: str
    fault: str
    method: str
    path: str  # with the query string
    reference: str  # a corpus sample id, or "built:<fault>" for one built from the catalog
    waits: bool = False  # a 429: also watch what a client that waits for the reset does

    @property
    def captured(self) -> bool:
        """The reference is a real response from the corpus (not a documented one)."""
        return not self.reference.startswith(("built:", "net-"))

    @property
    def network(self) -> bool:
        """A network fault: the reference is a failing server reached with no proxy."""
        return self.reference.startswith("net-")

    @property
    def api(self) -> str:
        return "v2" if self.path.startswith("/2/") else "v1.1"


# Captured responses, by the fault that forges the same error: every capture in the corpus
# of an error twerr can forge, but the 326 one, whose extra keys (sub_error_code,
# bounce_location) come from the web login flow, not the API.
OBSERVED = {
    "99": "v1.1-99-oauth2-token",
    "http420": "stream-420-text",
    "streaming-connection": "v2-429-streaming-connection",
    "not-authorized-for-resource": "v2-200-not-authorized",
    "invalid-request": "v2-400-invalid-request",
    "187": "v1.1-187-duplicate",
    "88": "v1.1-88-rate-limit",
    "32": "v1.1-32-auth-period",
    "130": "v1.1-130-over-capacity",
    "453": "v1.1-453-access-level",
    "usage-capped": "v2-429-usage-capped",
    "credits": "v2-402-credits",
    "credits-depleted": "v2-402-credits-depleted",
    "client-forbidden": "v2-403-client-forbidden",
    "unsupported-authentication": "v2-403-unsupported-authentication",
    "v2 187": "v2-403-duplicate-content",
    "v2 http401": "v2-401-unauthorized",
    "v2 http503": "v2-503-service-unavailable",
    "429-day-cap": "v2-429-app-24h-cap",
    "429-empty": "v1.1-429-empty",
    "429-text": "v2-429-text",
    "legacy-error": "v1.1-single-error-string",
    "oauth-xml": "oauth-xml-415",
    "oauth-text": "oauth-text-verifier",
    "html-503": "html-over-capacity",
    "errors-strings": "v2-media-500-strings",
    "json-array": "json-array-body",
}


def cases() -> list[Case]:
    catalog = load_catalog()
    found: list[Case] = []

    def add(fault: str, method: str, path: str, key: str | None = None) -> None:
        sample_id = OBSERVED.get(key or fault)
        if sample_id:
            sample = SAMPLES[sample_id]
            method, path = sample.method, sample.path
        reference = sample_id or f"built:{fault}"
        status = _reference(reference, method, path)[0]
        found.append(Case(f"{key or fault}", fault, method, path, reference, status == 429))

    for code in catalog.codes:
        add(str(code.code), "POST", "/1.1/statuses/update.json")
    for problem in catalog.problems:
        add(problem.slug, "GET", "/2/tweets/1460323737035677698")
    for fault in ("187", "http401", "http503", "88"):
        add(fault, "POST", "/2/tweets", key=f"v2 {fault}")
    for status in (400, 401, 402, 403, 404, 406, 410, 413, 420, 422, 429, 500, 502, 503, 504):
        add(f"http{status}", "GET", "/1.1/statuses/home_timeline.json", key=f"http{status}")
    for shape in catalog.shapes:
        path = "/2/tweets/search/recent?query=x" if shape.name == "429-text" else None
        add(shape.name, "GET", path or "/1.1/statuses/user_timeline.json")
    for fault in NETWORK:
        for path in ("/1.1/statuses/show.json", "/2/tweets/1460323737035677698"):
            family = "v2" if path.startswith("/2/") else "v1.1"
            found.append(Case(f"{fault} ({family})", fault, "GET", path, f"net-{fault}"))
    return found


NETWORK = ("reset", "empty", "truncate", "timeout")
TIMEOUT = 3  # seconds: how long clients wait in the network cases


def _reference(reference: str, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a case's reference response."""
    if not reference.startswith("built:"):
        # a capture made before X moved its problem types to api.x.com, as X sends it today
        sample = SAMPLES[reference]
        sample = sample.model_copy(update={"body": corpus.as_sent_today(sample.body)})
        return sample.status, sample.response_headers(PRESETS), sample.raw_body
    return built_reference(reference.removeprefix("built:"), path)


def built_reference(fault: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The documented response for an error no capture shows: written from the catalog's text
    and the API's documented shapes (twitter-errors.md sections 1 to 3), not by twerr's forge."""
    catalog = load_catalog()
    v2 = path.startswith("/2/")
    headers = dict(PRESETS["v2" if v2 else "v1"])
    date = headers["date"]
    reset = str(int(epoch(date)) + 900)
    window = {"x-rate-limit-limit": "900", "x-rate-limit-remaining": "899"}
    body: Any
    if fault.startswith("http"):
        status = int(fault[4:])
        title = reason_phrase(status)
        code = getattr(catalog.status(status), "v1_code", None)
        if v2:
            body = {"title": title, "detail": title, "type": "about:blank", "status": status}
        elif code is not None and getattr(catalog.status(status), "status", None) == status:
            entry = catalog.code(code)
            body = {"errors": [{"code": code, "message": entry.wire_message or entry.message}]}
        else:
            body = None
    elif fault.isdigit():
        entry = catalog.code(int(fault))
        status = entry.http_status
        message = entry.wire_message or entry.message
        for placeholder, text in entry.fills.items():  # the seed's templates, filled
            message = message.replace(placeholder, text)
        if v2:
            hint = catalog.hint_for_code(entry.code)
            body = {
                "title": reason_phrase(status),
                "detail": hint.detail if hint else reason_phrase(status),
                "type": "about:blank",
                "status": status,
            }
        else:
            body = {"errors": [{"code": entry.code, "message": message}]}
    elif catalog.shape(fault):
        shape = catalog.shape(fault)
        sample = SAMPLES["v1.1-88-rate-limit"]
        status = sample.status
        body = json.loads(sample.body)
        if fault == "429-no-reset":
            headers.update({"x-rate-limit-limit": "900", "x-rate-limit-remaining": "0"})
            return status, _finish(headers, body), _json(body)
        # Not seen from the API: the shape is its body, as the catalog describes it.
        assert shape is not None and shape.body is not None
        status = catalog.code(shape.like).http_status
        return status, _finish(headers, shape.body), shape.body.encode()
    elif fault == "about:blank":  # the generic problem, as the captures show it: a plain 403
        status = 403
        body = {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "Forbidden"}
    else:
        problem = catalog.problem_by_slug(fault)
        type_uri = f"{corpus.PROBLEM_BASE}{fault}"
        title = problem.title or fault.replace("-", " ").title()
        if problem.http_status is None:
            status = 200
            lookup = {"resource_type": "tweet", "parameter": "id", "value": "1460323737035677698"}
            words = {**lookup, "resource_name": "Tweet", **problem.example}  # "the Tweet"
            item: dict[str, Any] = {}
            if "resource_type" in problem.fields:
                looked_up = {**lookup, "resource_id": lookup["value"]}
                item.update({k: v for k, v in looked_up.items() if k in problem.fields})
            if "section" in problem.fields:
                item["section"] = "data"
            item.update(problem.example)
            item.update(
                title=title,
                detail=(problem.detail or problem.meaning).format_map(words),
                type=type_uri,
            )
            if not problem.detail_in_body:  # duplicate-rules, as captured
                del item["detail"]
            body = {"errors": [item]}
        else:
            status = problem.http_status
            body = {**problem.example, "title": title, "type": type_uri}
            body["detail"] = (problem.detail or problem.meaning).format(**problem.example)
            if problem.status_in_body:
                body["status"] = status
            if fault == "invalid-request":
                body["errors"] = [
                    {
                        "parameters": {"id": ["invalid"]},
                        "message": "The `id` query parameter value [invalid] is not valid",
                    }
                ]
    if status == 429:
        window = {"x-rate-limit-limit": "900", "x-rate-limit-remaining": "0"}
    if status >= 400:
        headers.update({**window, "x-rate-limit-reset": reset})
    return status, _finish(headers, body), _json(body) if body is not None else b""


def _finish(headers: dict[str, str], body: Any) -> list[tuple[str, str]]:
    if body is None:
        headers.pop("content-type", None)
    return sorted(headers.items())


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# ---- the clients' views -------------------------------------------------------------------


class Stop(Exception):
    """Ends a client's retry loop once its next move is known."""


@dataclass
class Watch:
    """What a client does after an error: the sleeps it asks for and the calls it makes."""

    sleeps: list[str | None] = field(default_factory=list)
    calls: int = 0

    def sleep(self, seconds: float) -> None:
        """A wait for a reset ends the watch; tweepy's sleep(0) between tries does not."""
        if seconds > 1:
            self.sleeps.append(_bucket(seconds))
            raise Stop("slept")


def _bucket(seconds: float | None) -> str | None:
    """When a reset comes, as clients act on it: the captured responses carry their own
    windows (15 minutes, 10 minutes left, a day), so the exact seconds cannot match."""
    if seconds is None:
        return None
    if seconds <= 0:
        return "past"
    return "window" if seconds <= 960 else "day" if seconds <= 86460 else "later"


@contextlib.contextmanager
def watching(session: requests.Session, limit: int = 4) -> Iterator[Watch]:
    watch = Watch()
    original = session.request

    def request(*args: Any, **kwargs: Any) -> requests.Response:
        watch.calls += 1
        if watch.calls > limit:
            raise Stop(f"retried {limit - 1} times at once")
        return original(*args, **kwargs)

    with mock.patch.object(session, "request", request), mock.patch("time.sleep", watch.sleep):
        yield watch


def tweepy_view(call: Callable[[], Any], session: requests.Session, waits: bool) -> dict:
    view: dict[str, Any] = {}
    with watching(session) as watch:
        try:
            result = call()
        except Stop as stop:
            view["stopped"] = str(stop)
        except tweepy.TooManyRequests as e:
            view.update(_http_error(e))
            view["reset_in"] = _bucket(e.reset_time - time.time() if e.reset_time else None)
        except tweepy.HTTPException as e:
            view.update(_http_error(e))
        except tweepy.TweepyException as e:
            view.update(raises=type(e).__name__, text=str(e).split(":")[0])
            view["network"] = network_kind(str(e))
        except requests.RequestException as e:  # tweepy.Client lets these through
            view.update(raises=_requests_error(e), network=network_kind(str(e)))
        except Exception as e:  # the library crashed on the response: that is its view too
            view.update(raises=type(e).__name__, crash=str(e)[:80])
        else:
            view["returns"] = _result(result)
    if waits:
        view.update(sleeps=watch.sleeps, calls=watch.calls)
    return view


def _http_error(e: tweepy.HTTPException) -> dict[str, Any]:
    return {
        "raises": type(e).__name__,
        "status": e.response.status_code,
        "codes": e.api_codes,
        "messages": e.api_messages,
        "text": str(e),
    }


def _result(result: Any) -> Any:
    if isinstance(result, tweepy.Response):
        return {"data": result.data, "errors": result.errors}
    return type(result).__name__


def twython_view(call: Callable[[], Any]) -> dict:
    try:
        result = call()
    except twython.TwythonRateLimitError as e:
        reset = float(e.retry_after) - time.time() if e.retry_after else None
        return {
            "raises": type(e).__name__,
            "status": e.error_code,
            "msg": e.msg,
            "reset_in": _bucket(reset),
        }
    except twython.TwythonError as e:
        if e.error_code is None:  # no response: twython wraps the requests error's text
            return {"raises": type(e).__name__, "network": network_kind(str(e.msg))}
        return {"raises": type(e).__name__, "status": e.error_code, "msg": str(e.msg)}
    except Exception as e:
        return {"raises": type(e).__name__, "crash": str(e)[:80]}
    return {"returns": result}


# ---- running the matrix -------------------------------------------------------------------


@dataclass
class Setup:
    """A fake API serving the references, and a real mitmdump in front of it."""

    mode: str  # "regular" (HTTPS proxy, map-remote) or "reverse"
    api: FakeApi
    proxy: Mitmdump
    faulty: FaultyServer

    @property
    def ca(self) -> str:
        return str(self.proxy.confdir / "mitmproxy-ca-cert.pem")

    @property
    def base(self) -> str:
        """Where clients send requests."""
        if self.mode == "regular":
            return "https://api.twitter.com"
        return f"https://127.0.0.1:{self.proxy.port}"

    @property
    def proxies(self) -> dict[str, str]:
        if self.mode == "regular":
            return {"https": f"http://127.0.0.1:{self.proxy.port}"}
        return {}


@contextlib.contextmanager
def setup(mode: str, tmp: Path) -> Iterator[Setup]:
    api = FakeApi(references=references())
    with api:
        upstream = f"http://127.0.0.1:{api.port}"
        args = ["-s", "addon/twerr_addon.py", "--set", "twerr_scope=~all"]
        args += ["--set", "twerr_inject_header=true", "--set", "twerr_seed=1"]
        if mode == "regular":
            args += ["--set", "connection_strategy=lazy", "--map-remote"]
            args += [f"|https://api.twitter.com|{upstream}"]
        else:
            args += ["--mode", f"reverse:{upstream}"]
        (tmp / mode).mkdir(parents=True, exist_ok=True)
        proxy = Mitmdump(tmp / mode, *args)
        try:
            _wait_for(Path(proxy.confdir / "mitmproxy-ca-cert.pem"))
            with FaultyServer(proxy.confdir, tmp / mode) as faulty:
                yield Setup(mode, api, proxy, faulty)
        finally:
            proxy.stop()


def references() -> dict[str, tuple[int, list[tuple[str, str]], bytes]]:
    return {
        case.reference: _reference(case.reference, case.method, case.path)
        for case in cases()
        if not case.network
    }


def _wait_for(path: Path) -> None:
    for _ in range(200):
        if path.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


class _Rebase(HTTPAdapter):
    """Sends requests for api.twitter.com to another base URL (tweepy.Client has no host
    setting), as a user of reverse mode points their client at the proxy; and gives them a
    timeout, as a careful user does."""

    def __init__(self, base: str, timeout: float | None) -> None:
        super().__init__()
        self.base, self.timeout = base, timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url
        request.url = request.url.replace("https://api.twitter.com", self.base, 1)
        if self.timeout:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def python_views(s: Setup, case: Case, header: tuple[str, str], direct: bool) -> dict[str, dict]:
    """tweepy and twython's views of one response; direct: from the failing server, with no
    proxy in between."""
    name, value = header
    base = s.faulty.base if direct else s.base
    proxies = {} if direct else s.proxies
    timeout = TIMEOUT if case.network else None
    views: dict[str, dict] = {}
    with mock.patch.dict(os.environ, {"REQUESTS_CA_BUNDLE": s.ca}):
        if case.api == "v1.1":
            api = tweepy.API(
                tweepy.OAuth1UserHandler(*TOKENS),
                host=base.removeprefix("https://"),
                proxy=proxies.get("https"),
                timeout=timeout or 60,
            )
            api.session.headers[name] = value
            endpoint = case.path.split("?")[0].removeprefix("/1.1/").removesuffix(".json")
            views["tweepy.API"] = tweepy_view(
                lambda: api.request(case.method, endpoint), api.session, False
            )
            if case.waits:
                api.wait_on_rate_limit = True
                views["tweepy.API waiting"] = tweepy_view(
                    lambda: api.request(case.method, endpoint), api.session, True
                )
        else:
            client = tweepy.Client(BEARER, *TOKENS)
            client.session.headers[name] = value
            client.session.proxies.update(proxies)
            client.session.mount("https://api.twitter.com", _Rebase(base, timeout))
            route = case.path

            def call() -> Any:
                return client._make_request(case.method, route, user_auth=True)

            views["tweepy.Client"] = tweepy_view(call, client.session, False)
            if case.waits:
                client.wait_on_rate_limit = True
                views["tweepy.Client waiting"] = tweepy_view(call, client.session, True)
        twitter = twython.Twython(
            *TOKENS,
            client_args={
                "headers": {name: value},
                "proxies": proxies,
                "verify": s.ca,
                "timeout": timeout or 10,
            },
        )
        url = base + case.path
        views["twython"] = twython_view(lambda: twitter.request(url, method=case.method))
    return views


NETWORK_MARKERS = (
    "RemoteDisconnected",
    "Connection reset by peer",
    "IncompleteRead",
    "Read timed out",
    "timed out",
)


def network_kind(text: str) -> str | None:
    """Which network failure an error message names, without addresses or ports."""
    return next((marker for marker in NETWORK_MARKERS if marker in text), None)


def _requests_error(e: Exception) -> str:
    """A requests exception by its kind (ProxyError is a ConnectionError through a proxy)."""
    for kind in (
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        requests.ConnectionError,
    ):
        if isinstance(e, kind):
            return kind.__name__
    return type(e).__name__


def node_available() -> str | None:
    """Why the node client cannot run here, or None when it can."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed"
    if not (NODE_DIR / "node_modules" / "twitter-api-v2").exists():
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            return f"npm ci failed: {done.stderr.strip()[-300:]}"
    return None


def node_views(
    s: Setup, requests_: list[tuple[str, Case, tuple[str, str], bool]]
) -> dict[str, dict]:
    """node twitter-api-v2's view of each request, in one node process."""
    jobs = [
        {
            "key": key,
            "method": case.method,
            "url": (s.faulty.base if direct else s.base) + case.path,
            "headers": {header[0]: header[1]},
            "direct": direct,
            "timeout": TIMEOUT * 1000 if case.network else None,
        }
        for key, case, header, direct in requests_
    ]
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=s.ca)
    if s.mode == "regular":
        env["TWERR_PROXY"] = s.proxies["https"]
    done = subprocess.run(
        ["node", str(NODE_DIR / "views.mjs")],
        input=json.dumps({"tokens": TOKENS, "jobs": jobs}),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if done.returncode != 0:
        raise AssertionError(f"the node client failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


@dataclass
class Cell:
    client: str
    case: Case
    real: dict
    forged: dict
    note: str = ""

    @property
    def same(self) -> bool:
        return self.real == self.forged

    def difference(self) -> str:
        keys = sorted(set(self.real) | set(self.forged))
        return "; ".join(
            f"{k}: real {self.real.get(k)!r} / forged {self.forged.get(k)!r}"
            for k in keys
            if self.real.get(k) != self.forged.get(k)
        )


# What a view says of the rate limit: not comparable when the capture kept no such headers.
RATE_LIMIT_VIEW = ("rateLimit", "reset_in", "sleeps", "calls", "stopped")


def run(s: Setup, with_node: bool) -> list[Cell]:
    cells: list[Cell] = []
    node_jobs: list[tuple[str, Case, tuple[str, str], bool]] = []
    for case in cases():
        real = python_views(s, case, (SAMPLE_HEADER, case.reference), case.network)
        forged = python_views(s, case, (INJECT_HEADER, case.fault), False)
        cells += [_cell(client, case, real[client], forged[client]) for client in real]
        node_jobs.append((f"real {case.id}", case, (SAMPLE_HEADER, case.reference), case.network))
        node_jobs.append((f"forged {case.id}", case, (INJECT_HEADER, case.fault), False))
    if with_node:
        views = node_views(s, node_jobs)
        for case in cases():
            real, forged = views[f"real {case.id}"], views[f"forged {case.id}"]
            cells.append(_cell("twitter-api-v2", case, real, forged))
    return cells


def _cell(client: str, case: Case, real: dict, forged: dict) -> Cell:
    """A cell; where a capture kept the body and not the rate-limit headers, what the client
    makes of those headers has nothing to be compared with, and is left out on both sides."""
    if case.network or not case.captured:
        return Cell(client, case, real, forged)
    headers = dict(_reference(case.reference, case.method, case.path)[1])
    if "x-rate-limit-limit" in headers:
        return Cell(client, case, real, forged)
    real = {k: v for k, v in real.items() if k not in RATE_LIMIT_VIEW}
    forged = {k: v for k, v in forged.items() if k not in RATE_LIMIT_VIEW}
    return Cell(client, case, real, forged, "rate-limit headers not captured")
