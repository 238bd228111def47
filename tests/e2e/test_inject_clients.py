"""Injection through a real mitmdump, as a real client library (tweepy) sees it.

mitmdump runs as a regular HTTPS proxy; tweepy trusts mitmproxy's CA, and map-remote sends
api.twitter.com to the local fake API. Each injected error is compared with the reference
response for the same error, served by the fake API through the same proxy.
"""

import time
from pathlib import Path

import pytest
import requests
import tweepy

from corpus import as_sent_today
from fakeapi import SAMPLE_HEADER
from proxied import wait_for


def seen(call) -> tuple:
    """What a client's caller sees of a failed call: class, message, codes, messages."""
    with pytest.raises(tweepy.HTTPException) as info:
        call()
    error = info.value
    return type(error), str(error), error.api_codes, error.api_messages


@pytest.mark.parametrize(
    "spec,sample,call",
    [
        (
            ":~u statuses/update:187",
            "v1.1-187-duplicate",
            lambda s, sample: s.v1(sample).update_status("hello"),
        ),
        (
            ":~u user_timeline:88",
            "v1.1-88-rate-limit",
            lambda s, sample: s.v1(sample).user_timeline(screen_name="TwitterDev"),
        ),
        (
            ":~u search/tweets:32",
            "v1.1-32-auth-period",
            lambda s, sample: s.v1(sample).search_tweets("python"),
        ),
        (
            ":~u /2/tweets:187",
            "v2-403-duplicate-content",
            lambda s, sample: s.v2(sample).create_tweet(text="hello"),
        ),
        (
            ":~u /2/tweets:usage-capped",
            "v2-429-usage-capped",
            lambda s, sample: s.v2(sample).create_tweet(text="hello"),
        ),
        (
            ":~u /2/tweets/search:http503",
            "v2-503-service-unavailable",
            lambda s, sample: s.v2(sample).search_recent_tweets("weather"),
        ),
        (
            ":~u /2/tweets/search:client-forbidden",
            "v2-403-client-forbidden",
            lambda s, sample: s.v2(sample).search_recent_tweets("twitter"),
        ),
    ],
)
def test_tweepy_raises_for_an_injected_error_exactly_as_for_the_real_one(
    session, spec, sample, call
):
    s = session(spec)
    injected = seen(lambda: call(s, None))
    s.proxy.stop()
    real = seen(lambda: call(session(), sample))
    assert injected == real
    assert s.api.requests == []  # the injected error was answered without asking the API


def test_partial_errors_reach_tweepy_as_they_do_from_the_api(session):
    s = session(":~u /2/users/:resource-not-found")
    injected = s.v2().get_user(id=99999999999999999, user_auth=True)
    real = session().v2("v2-200-not-found-only").get_user(id=99999999999999999, user_auth=True)
    assert injected.data is None and real.data is None
    assert [e["detail"] for e in injected.errors] == [e["detail"] for e in real.errors]
    # the same problem type; the capture predates X's move of the types to api.x.com
    assert [as_sent_today(e["type"]) for e in injected.errors] == [
        as_sent_today(e["type"]) for e in real.errors
    ]


def test_tweepy_oauth_raises_for_an_injected_callback_error_as_for_the_real_one(session):
    """oauth/request_token answers 415 in XML; tweepy's OAuth1UserHandler shows the body."""

    def authorization_error(sample: str | None) -> str:
        handler = tweepy.OAuth1UserHandler("ck-oauth", "cs-oauth", callback="https://e.com/cb")
        if sample:
            handler.oauth.headers[SAMPLE_HEADER] = sample
        with pytest.raises(tweepy.TweepyException) as info:
            handler.get_authorization_url()
        return str(info.value)

    s = session(":~u /oauth/request_token:415")
    injected = authorization_error(None)
    s.proxy.stop()
    session()
    assert injected == authorization_error("oauth-xml-415")
    assert '<error code="415">Callback URL not approved' in injected
    assert s.api.requests == []


def test_wait_on_rate_limit_waits_for_the_emulated_reset(session):
    s = session(":~u /2/tweets/:88:ratelimit=2/3")
    client = s.v2(wait_on_rate_limit=True)
    started = time.monotonic()
    for _ in range(3):
        assert client.get_tweet(1460323737035677698).data["text"] == "hello"
    waited = time.monotonic() - started
    assert waited >= 1.0  # it slept until the window reset (3 s window, +1 s tweepy adds)
    assert len(s.api.requests) == 3  # the 429 was answered by twerr, the retry by the API
    log = s.proxy.stop()
    assert "→ 429 HTTP 429 Too Many Requests (injected)" in log


def test_the_v1_api_waits_for_the_emulated_reset_too(session):
    s = session(":~u statuses/show:88:ratelimit=2/3")
    api = s.v1(wait_on_rate_limit=True)
    started = time.monotonic()
    for _ in range(3):
        assert api.get_status(1460323737035677698).text == "hello"
    assert time.monotonic() - started >= 1.0
    assert len(s.api.requests) == 3


def test_without_waiting_tweepy_raises_with_the_reset_time(session):
    s = session(":~u /2/tweets/:88:ratelimit=1/900")
    client = s.v2()
    client.get_tweet(1460323737035677698)
    with pytest.raises(tweepy.TooManyRequests) as info:
        client.get_tweet(1460323737035677698)
    assert info.value.response.headers["x-rate-limit-remaining"] == "0"
    assert 890 <= info.value.reset_time - time.time() <= 901


@pytest.mark.parametrize(
    "spec,error,text",
    [
        # Over TLS, Python reads a reset as the end of the stream (ssl's suppress_ragged_eofs).
        (":~all:reset", requests.ConnectionError, "closed connection without response"),
        (":~all:empty", requests.ConnectionError, "closed connection without response"),
        (":~all:truncate", requests.exceptions.ChunkedEncodingError, "IncompleteRead"),
        (":~all:reset:phase=response", requests.ConnectionError, "closed connection without"),
    ],
)
def test_network_faults_surface_as_the_librarys_connection_errors(session, spec, error, text):
    s = session(spec)
    with pytest.raises(error, match=text):
        s.v2().get_tweet(1460323737035677698)
    assert len(s.api.requests) == (1 if "response" in spec or "truncate" in spec else 0)


@pytest.mark.parametrize(
    "fault,text", [("reset", "Connection reset by peer"), ("empty", "without")]
)
def test_reset_is_a_tcp_reset_and_empty_an_orderly_close(session, fault, text):
    s = session(f":~all:{fault}")
    with pytest.raises(requests.ConnectionError, match=text):
        requests.get("http://api.twitter.com/2/tweets/1", proxies={"http": s.proxy_url})


def test_a_timeout_holds_until_the_client_gives_up(session):
    s = session(":~all:timeout:hold=30")
    api = s.v1(timeout=1)
    started = time.monotonic()
    with pytest.raises(tweepy.TweepyException, match="Read timed out"):
        api.get_status(1460323737035677698)
    assert 1 <= time.monotonic() - started < 10
    assert s.api.requests == []
    assert "Transport error: Connection killed. (injected)" in wait_for(s.proxy, "Transport")


def test_slow_trickles_the_apis_own_answer(session):
    s = session(":~all:slow:rate=50")
    started = time.monotonic()
    tweet = s.v2().get_tweet(1460323737035677698)
    assert tweet.data["text"] == "hello"
    assert time.monotonic() - started >= 1.5  # 99 bytes at 50 bytes a second
    assert len(s.api.requests) == 1 and "x-twerr-relay" not in s.api.requests[0][2]


def test_the_header_opt_in_for_one_request(session):
    s = session(options=("--set", "twerr_inject_header=true"))
    client = s.v2()
    client.session.headers["X-Twerr-Inject"] = "187"
    with pytest.raises(tweepy.Forbidden):
        client.create_tweet(text="hello")
    del client.session.headers["X-Twerr-Inject"]
    assert client.create_tweet(text="hello").data["text"] == "hello"
    assert all("X-Twerr-Inject" not in headers for _, _, headers in s.api.requests)


def test_a_rules_file_is_reloaded_while_mitmdump_runs(session, tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("- match: '~u /2/tweets'\n  fault: 187\n")
    s = session(options=("--set", f"twerr_rules={rules}"))
    with pytest.raises(tweepy.Forbidden):
        s.v2().create_tweet(text="hello")
    rules.write_text("- match: '~u /2/tweets'\n  fault: http503\n  p: 1.0\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            s.v2().create_tweet(text="hello")
        except tweepy.TwitterServerError:
            break
        except tweepy.Forbidden:
            time.sleep(0.2)
    else:
        pytest.fail("the changed rules file was not picked up")
    rules.write_text("- match: '~u /2/tweets'\n  fault: nonsense\n")
    time.sleep(2.5)
    with pytest.raises(tweepy.TwitterServerError):  # the broken file left the rules in force
        s.v2().create_tweet(text="hello")
    log = s.proxy.stop()
    assert "rules.yaml line 2: rule 1: fault: unknown fault 'nonsense'" in log
