"""Through a real mitmdump: no secret in anything twerr writes, hosts outside twerr_scope never
touched, and a bug in a twerr hook costs twerr's work on that flow, never the flow."""

import base64
import gzip
import http.client
import json
from pathlib import Path

import pytest
from mitmproxy import io as mitmio

from processes import reverse_proxy_args
from upstream import Upstream
from upstream import fixed

pytestmark = pytest.mark.e2e

BREAK = Path(__file__).parent / "scripts" / "break_twerr.py"
JSON = [("content-type", "application/json; charset=utf-8")]
# Planted in requests and responses; none may show in what twerr writes.
BEARER = "AAAAAAAAAAAAAAAAAAAAAplantedBearerSecret0001"
OAUTH_TOKEN = "1072250532645998596-plantedOAuthTokenSecret02"
SIGNATURE = "plantedSignatureSecret03%3D"
COOKIE = "plantedCookieSecret04"
QUERY_TOKEN = "plantedQueryTokenSecret05"
VERIFIER = "plantedVerifierSecret06"
RESPONSE_TOKEN = "plantedResponseTokenSecret07"
RESPONSE_SECRET = "plantedResponseTokenSecret08"
SET_COOKIE = "plantedSetCookieSecret09"
ACCESS_TOKEN = "plantedAccessTokenSecret10"
SECRETS = [
    BEARER,
    OAUTH_TOKEN,
    SIGNATURE,
    COOKIE,
    QUERY_TOKEN,
    VERIFIER,
    RESPONSE_TOKEN,
    RESPONSE_SECRET,
    SET_COOKIE,
    ACCESS_TOKEN,
]


def read_flows(path: Path) -> list:
    with open(path, "rb") as file:
        return list(mitmio.FlowReader(file).stream())


def request(port: int, method: str, host: str, path: str, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, headers={"host": host, **(headers or {})})
    response = connection.getresponse()
    got = (response.status, response.getheaders(), response.read())
    connection.close()
    return got


def reverse_proxy(mitmdump, upstream: Upstream, out: Path, *args: str):
    return mitmdump(*reverse_proxy_args(upstream.port, out, *args))


def everything_twerr_wrote(flows: list) -> str:
    """Metadata (with each kept original body decoded and unpacked), comments and markers."""
    parts = []
    for flow in flows:
        meta = flow.metadata.get("twerr") or {}
        parts += [json.dumps(meta, ensure_ascii=False), flow.comment, flow.marked]
        original = (meta.get("injected") or {}).get("original") or {}
        if "body_base64" in original:
            body = base64.b64decode(original["body_base64"])
            parts.append(body.decode("latin-1"))
            if body[:2] == b"\x1f\x8b":
                parts.append(gzip.decompress(body).decode("latin-1"))
    return "\n".join(parts)


def test_no_secret_reaches_anything_twerr_writes(mitmdump, tmp_path):
    out = tmp_path / "flows.mitm"
    oauth = (
        f'OAuth oauth_consumer_key="ck", oauth_token="{OAUTH_TOKEN}", '
        f'oauth_signature="{SIGNATURE}", oauth_nonce="n1"'
    )
    routes = {
        "/oauth/access_token": fixed(
            200,
            [("content-type", "text/html"), ("set-cookie", f"auth_token={SET_COOKIE}")],
            f"oauth_token={RESPONSE_TOKEN}&oauth_token_secret={RESPONSE_SECRET}".encode(),
        ),
        "/oauth2/token": fixed(
            200, JSON, json.dumps({"token_type": "bearer", "access_token": ACCESS_TOKEN}).encode()
        ),
        "/1.1/account/verify_credentials.json": fixed(
            200,
            [*JSON, ("set-cookie", f"ct0={SET_COOKIE}; Path=/")],
            json.dumps({"id": 1, "screen_name": "x", "oauth_token": RESPONSE_TOKEN}).encode(),
        ),
        "/1.1/statuses/update.json": fixed(
            401,
            JSON,
            json.dumps(
                {"errors": [{"code": 32, "message": f"Could not authenticate: Bearer {BEARER}"}]}
            ).encode(),
        ),
        "/2/tweets/search/recent": fixed(
            400,
            [("content-type", "application/problem+json")],
            json.dumps(
                {
                    "errors": [
                        {
                            "parameters": {"oauth_token": [QUERY_TOKEN]},
                            "message": f"oauth_token={QUERY_TOKEN} is not allowed",
                        }
                    ],
                    "title": "Invalid Request",
                    "detail": f"oauth_verifier: {VERIFIER}",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                }
            ).encode(),
        ),
        "/1.1/statuses/user_timeline.json": fixed(200, JSON, b"[]"),
    }
    rules = [
        ":~u /oauth/access_token:http503:phase=response",
        ":~u /oauth2/token:187:phase=response",
        ":~u verify_credentials:http500:phase=response",
        ":~u user_timeline:88:ratelimit=1/3600",
    ]
    headers = {
        "authorization": f"Bearer {BEARER}",
        "cookie": f"auth_token={COOKIE}; ct0={COOKIE}",
        "accept-encoding": "gzip",
    }
    calls = [
        ("POST", f"/oauth/access_token?oauth_verifier={VERIFIER}", {"authorization": oauth}),
        ("POST", "/oauth2/token", headers),
        ("GET", "/1.1/account/verify_credentials.json", {**headers, "authorization": oauth}),
        ("POST", f"/1.1/statuses/update.json?oauth_token={QUERY_TOKEN}", headers),
        ("GET", f"/2/tweets/search/recent?oauth_token={QUERY_TOKEN}", headers),
        ("GET", "/1.1/statuses/user_timeline.json", headers),
        ("GET", "/1.1/statuses/user_timeline.json", headers),
        ("GET", "/1.1/statuses/update.json", {**headers, "x-twerr-inject": "326"}),
    ]
    with Upstream(routes) as upstream:
        proxy = reverse_proxy(
            mitmdump,
            upstream,
            out,
            "--flow-detail",
            "0",  # mitmproxy's own flow lines print URLs, queries included
            "--set",
            "twerr_inject_header=true",
            *[arg for rule in rules for arg in ("--set", f"twerr_inject={rule}")],
        )
        statuses = [request(proxy.port, m, "api.twitter.com", p, h)[0] for m, p, h in calls]
        output = proxy.stop()
    assert statuses == [503, 403, 500, 401, 400, 200, 429, 403]
    flows = read_flows(out)
    assert len(flows) == len(calls)
    written = everything_twerr_wrote(flows)
    records = [f.metadata["twerr"]["injected"] for f in flows]
    originals = [r["original"] for r in records if r and "original" in r]
    assert len(originals) == 3
    assert sum("body_withheld" in o for o in originals) == 3  # each of them hands out a token
    assert all(
        name.lower() != "set-cookie" for o in originals for name, _ in o["headers"]
    )  # the headers are kept, but for the cookies
    assert "Twitter API responses" in output  # the log was written, and is scanned
    for secret in SECRETS:
        assert secret not in written, secret
        assert secret not in output, secret
    # the credentials reached the API untouched, and nowhere else
    assert any(BEARER.encode() in head for head in upstream.requests)


def test_a_response_phase_original_without_credentials_is_kept_whole(mitmdump, tmp_path):
    out = tmp_path / "flows.mitm"
    body = b'{"data":{"id":"1","text":"hello"}}'
    routes = {"/2/tweets": fixed(201, [*JSON, ("x-rate-limit-remaining", "5")], body)}
    with Upstream(routes) as upstream:
        proxy = reverse_proxy(
            mitmdump, upstream, out, "--set", "twerr_inject=:~u /2/tweets:http503:phase=response"
        )
        status, _, _ = request(
            proxy.port,
            "POST",
            "api.twitter.com",
            "/2/tweets",
            {"authorization": f"Bearer {BEARER}"},
        )
        proxy.stop()
    [flow] = read_flows(out)
    original = flow.metadata["twerr"]["injected"]["original"]
    assert status == 503
    assert (original["status"], base64.b64decode(original["body_base64"])) == (201, body)
    assert original["headers"] == [
        ["content-type", "application/json; charset=utf-8"],
        ["x-rate-limit-remaining", "5"],
        ["content-length", str(len(body))],
    ]


def test_hosts_outside_the_scope_are_never_touched(mitmdump, tmp_path):
    out = tmp_path / "flows.mitm"
    body = b'{"errors":[{"code":187,"message":"Status is a duplicate."}]}'
    routes = {"/1.1/statuses/update.json": fixed(403, JSON, body)}
    rules = [":~all:88", ":~d example.com:http503", ":~u update:reset"]
    with Upstream(routes) as upstream:
        proxy = reverse_proxy(
            mitmdump,
            upstream,
            out,
            "--set",
            "twerr_inject_header=true",
            *[arg for rule in rules for arg in ("--set", f"twerr_inject={rule}")],
        )
        outside = [
            request(
                proxy.port,
                "POST",
                host,
                "/1.1/statuses/update.json",
                {"x-twerr-inject": "130", "authorization": f"Bearer {BEARER}"},
            )
            for host in ("example.com", "api.twitter.com.example.com", "twitter.com", "x.com")
        ]
        inside = request(proxy.port, "POST", "api.x.com", "/1.1/statuses/update.json")
        output = proxy.stop()
    assert inside[0] == 429  # the rules work where they may
    for status, headers, got in outside:
        assert (status, got) == (403, body)
        assert headers == [*JSON, ("content-length", str(len(body)))]
    flows = read_flows(out)
    assert len(flows) == 5
    for flow in flows[:4]:
        assert "twerr" not in flow.metadata and not flow.comment and not flow.marked
    # the request went upstream as sent: the header twerr would have taken is still there
    heads = [head for head in upstream.requests if b"x-twerr-inject" in head.lower()]
    assert len(heads) == 4
    # scope comes first: the rules never even counted the flows outside it
    assert "twerr_inject[0]: ~all -> 88: 1 injected of 1 matched" in output
    assert "twerr_inject[1]: ~d example.com -> http503: 0 injected of 0 matched" in output
    assert "twerr: 1 Twitter API responses" in output


def test_a_bug_in_a_twerr_hook_costs_only_twerrs_work_on_that_flow(mitmdump, tmp_path):
    out = tmp_path / "flows.mitm"
    body = b'{"errors":[{"code":187,"message":"Status is a duplicate."}]}'
    routes = {
        path: fixed(403, JSON, body) for path in ("/1.1/boom.json", "/1.1/statuses/update.json")
    }
    with Upstream(routes) as upstream:
        proxy = reverse_proxy(
            mitmdump,
            upstream,
            out,
            "-s",
            str(BREAK),
            "--set",
            "twerr_inject_header=true",
            "--flow-detail",
            "0",  # mitmproxy's own flow lines print URLs, queries included
        )
        broken = request(proxy.port, "GET", "api.twitter.com", "/1.1/boom.json?oauth_token=q1")
        forged = request(
            proxy.port, "GET", "api.twitter.com", "/1.1/boom.json", {"x-twerr-inject": "130"}
        )
        fine = request(proxy.port, "POST", "api.twitter.com", "/1.1/statuses/update.json")
        output = proxy.stop()
    for status, headers, got in (broken, fine):
        assert (status, got) == (403, body)
        assert headers == [*JSON, ("content-length", str(len(body)))]
    assert forged[0] == 403 and forged[2] == body  # not injected: the API's answer
    failed = [line for line in output.splitlines() if "failed on flow" in line]
    assert len(failed) == 3, output  # the classifier twice, the injector once: each once
    assert sum("Classifier.response failed" in line for line in failed) == 2
    assert sum("Injector.request failed" in line for line in failed) == 1
    assert all("(GET api.twitter.com/1.1/boom.json)" in line for line in failed)
    assert "Addon error" not in output and "q1" not in output
    flows = read_flows(out)
    assert len(flows) == 3
    assert ["twerr" in f.metadata for f in flows] == [False, False, True]
    assert flows[2].metadata["twerr"]["errors"][0]["code"] == 187
