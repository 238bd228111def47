"""The audit through a real mitmdump: scripted clients, good and bad, and tweepy itself.

Each test starts a fake API behind mitmdump with twerr and injection rules, drives clients
through it, then reads the flows mitmdump saved (`-w`) and its log, and checks the exact
findings: which request was flagged, with what, and the verdict per error kind.
"""

import json
import time

import pytest
import requests
import tweepy
from mitmproxy import io as mitmio

import corpus
from fakeapi import Reference
from fakeapi import epoch
from proxied import tokens

pytestmark = pytest.mark.e2e


def started(session, tmp_path, *inject: str):
    flows, report = tmp_path / "flows.mitm", tmp_path / "report.json"
    options = ("-w", str(flows), "--set", f"twerr_report={report}")
    return session(*inject, options=options), flows


def findings(proxy, flows) -> list[tuple[str, str, str | None]]:
    """(method, path, finding) for every flow mitmdump saved, in the order they ended."""
    proxy.stop()
    with flows.open("rb") as file:
        saved = list(mitmio.FlowReader(file).stream())
    return [
        (
            flow.request.method,
            flow.request.path.split("?")[0],
            (flow.metadata["twerr"]["audit"] or {}).get("finding"),
        )
        for flow in saved
    ]


def verdicts(proxy) -> list[str]:
    """The report's rows of errors by kind, as `label: count; findings -> verdict`."""
    proxy.stop()
    report = json.loads((proxy.log.parent / "report.json").read_text())
    return [
        f"{row['label']}: {row['count']} error{'s' if row['count'] != 1 else ''}"
        + "".join(f"; {name} {count}" for name, count in row["findings"].items())
        + f" -> {row['verdict']}"
        for row in report["errors_by_kind"]
    ]


def get(s, path: str, token: str):
    return requests.get(
        f"https://api.twitter.com{path}",
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_tweepy_waiting_on_the_emulated_window_is_judged_handled_well(session, tmp_path):
    s, flows = started(session, tmp_path, ":~u /2/tweets/search:88:ratelimit=2/3")
    client = s.v2(wait_on_rate_limit=True)
    for _ in range(4):
        client.search_recent_tweets("twerr")
    seen = findings(s.proxy, flows)
    assert [finding for *_, finding in seen] == [None] * 5  # 4 answers and the one 429
    assert [line.rsplit(" -> ", 1)[1] for line in verdicts(s.proxy)] == ["handled well"]
    assert verdicts(s.proxy)[0].endswith(": 1 error -> handled well")


def test_tweepy_retrying_in_a_loop_is_flagged(session, tmp_path):
    s, flows = started(session, tmp_path, ":~u /2/tweets/search:88:ratelimit=2/900")
    client = s.v2()
    refused = 0
    for _ in range(5):
        try:
            client.search_recent_tweets("twerr")
        except tweepy.TooManyRequests:
            refused += 1  # and straight back in: no wait for the reset
    assert refused == 3
    assert findings(s.proxy, flows) == [
        ("GET", "/2/tweets/search/recent", None),
        ("GET", "/2/tweets/search/recent", None),
        ("GET", "/2/tweets/search/recent", None),  # the 429: not a finding, what follows is
        ("GET", "/2/tweets/search/recent", "early-retry"),
        ("GET", "/2/tweets/search/recent", "early-retry"),
    ]
    (verdict,) = verdicts(s.proxy)
    assert verdict.endswith(": 3 errors; early-retry 2 -> retry too early")
    log = s.proxy.log.read_text()
    assert log.count("retry too early: retried ") == 2


def test_a_storm_of_retries_and_a_client_that_backs_off(session, tmp_path):
    s, flows = started(session, tmp_path, ":~u /1.1/statuses/home_timeline:http503")
    path = "/1.1/statuses/home_timeline.json"
    for _ in range(5):  # the impatient client: every 50 ms
        assert get(s, path, "impatient").status_code == 503
        time.sleep(0.05)
    for wait in (0.1, 0.2, 0.4, 0.8, 0):  # the careful one: waits that double
        assert get(s, path, "careful").status_code == 503
        time.sleep(wait)
    seen = [finding for *_, finding in findings(s.proxy, flows)]
    assert seen == [None, None, None, "retry-storm", "retry-storm"] + [None] * 5
    (verdict,) = verdicts(s.proxy)
    assert verdict == "130 Over capacity: 10 errors; retry-storm 2 -> retry storm"


def test_permanent_errors_and_lost_writes(session, tmp_path):
    s, flows = started(
        session,
        tmp_path,
        ":~u statuses/update:187",
        "|~u /2/tweets$ & ~m POST|131|phase=response,times=1",
        ":~hq at-expired:89",  # every request made with that token
        ':~u "/2/tweets[?]ids=":resource-not-found:times=1',
    )
    poster = s.v1(credentials=tokens("poster"))
    for _ in range(2):  # the same Tweet again after "Status is a duplicate"
        with pytest.raises(tweepy.Forbidden):
            poster.update_status("hello")
    writer = s.v2(credentials=tokens("writer"))
    with pytest.raises(tweepy.TwitterServerError):
        writer.create_tweet(text="hello", user_auth=True)
    writer.create_tweet(text="hello", user_auth=True)  # the API had posted the first one
    expired = s.v1(credentials=tokens("expired"))
    with pytest.raises(tweepy.Unauthorized):
        expired.verify_credentials()
    with pytest.raises(tweepy.Unauthorized):
        expired.get_status(20)  # the same token, still
    reader = s.v2()
    reader.get_tweets([1234567890])  # 1234567890 comes back missing
    reader.get_tweet(1234567890)  # and is asked for again at once
    assert findings(s.proxy, flows) == [
        ("POST", "/1.1/statuses/update.json", None),
        ("POST", "/1.1/statuses/update.json", "permanent-retry"),
        ("POST", "/2/tweets", None),
        ("POST", "/2/tweets", "duplicate-write"),
        ("GET", "/1.1/account/verify_credentials.json", None),
        ("GET", "/1.1/statuses/show.json", "dead-credential"),
        ("GET", "/2/tweets", None),
        ("GET", "/2/tweets/1234567890", "missing-ids"),
    ]
    assert sorted(verdicts(s.proxy)) == sorted(
        [
            "187 Status is a duplicate: 2 errors; permanent-retry 1 -> retried a permanent error",
            "89 Invalid or expired token: 2 errors; dead-credential 1 -> retried a permanent error",
            "HTTP 500 Internal Server Error: 1 error; duplicate-write 1 -> repeated a write",
            "resource-not-found (Not Found Error): 1 error; missing-ids 1"
            " -> retried a permanent error",
        ]
    )


def day_capped(window: int, cap: int) -> Reference:
    """X's 429 of a spent user 24-hour cap while the 15-minute window has requests left (the
    body a generic v2 problem). Served as a reference, its Date is made now at each answer and
    its resets move along: the window resets `window` seconds after it, the cap `cap` after."""
    headers = dict(corpus.load().presets["v2"])
    date = int(epoch(headers["date"]))
    headers |= {
        "x-rate-limit-limit": "450",
        "x-rate-limit-remaining": "449",
        "x-rate-limit-reset": str(date + window),
        "x-user-limit-24hour-limit": "100",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(date + cap),
    }
    body = b'{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank",'
    body += b'"status":429}'
    return 429, sorted(headers.items()), body


class Stopped(Exception):
    """Raised in a client's response hook to end a loop it would go on with forever."""


def test_tweepy_waiting_on_the_window_while_a_day_cap_binds_wakes_at_the_wrong_reset(
    session, tmp_path
):
    s, flows = started(session, tmp_path)
    s.api.references["day-capped"] = day_capped(window=2, cap=8)
    # tweepy's wait_on_rate_limit sleeps until x-rate-limit-reset, whatever else is spent
    client = s.v2("day-capped", wait_on_rate_limit=True)
    statuses: list[int] = []  # what tweepy was answered

    def stop_after_its_first_retry(response, *args, **kwargs):
        statuses.append(response.status_code)
        if len(statuses) == 2:
            raise Stopped  # it would wake at each window reset, all day long

    client.session.hooks["response"].append(stop_after_its_first_retry)
    with pytest.raises(Stopped):
        client.search_recent_tweets("twerr")
    # the careful client waits for the latest reset the 429 names: the cap's
    url = "https://api.twitter.com/2/tweets/search/recent?query=twerr"
    headers = {"authorization": "Bearer careful", "x-sample": "day-capped"}
    answer = requests.get(url, headers=headers, timeout=10)
    names = ("x-rate-limit-reset", "x-app-limit-24hour-reset", "x-user-limit-24hour-reset")
    time.sleep(max(int(answer.headers.get(n, 0)) for n in names) - time.time() + 0.5)
    # the fake API spends the cap again at once: a fresh refusal, but the wait was right
    assert requests.get(url, headers=headers, timeout=10).status_code == 429
    assert statuses == [429, 429]
    seen = findings(s.proxy, flows)
    assert [finding for *_, finding in seen] == [None, "wrong-reset", None, None]
    with flows.open("rb") as file:
        saved = list(mitmio.FlowReader(file).stream())
    text = saved[1].metadata["twerr"]["audit"]["text"]
    assert text.startswith("retried at the 15-minute window's reset (")
    assert ") but the user 24-hour cap binds until " in text
    assert text.endswith(": wait for x-user-limit-24hour-reset")
    assert saved[3].metadata["twerr"]["handled"] == [
        {"error": "HTTP 429", "endpoint": "GET /2/tweets/search/recent"}
    ]
    (verdict,) = verdicts(s.proxy)
    assert (
        verdict
        == "HTTP 429 Too Many Requests: 4 errors; wrong-reset 1 -> waited for the wrong reset"
    )


def test_spent_credits_and_a_usage_cap_retried_until_something_changes(session, tmp_path):
    s, flows = started(
        session,
        tmp_path,
        ":~u /2/tweets/search:usage-capped",
        "|~u /2/tweets$ & ~m POST|http402|times=2",
    )
    reader = s.v2()
    for _ in range(3):  # a monthly cap: no retry succeeds before next month
        with pytest.raises(tweepy.TooManyRequests):
            reader.search_recent_tweets("twerr")
        time.sleep(0.2)
    writer = s.v2(credentials=tokens("writer"))
    for _ in range(2):
        with pytest.raises(tweepy.HTTPException) as refused:
            writer.create_tweet(text="hello", user_auth=True)
        assert refused.value.response.status_code == 402
    writer.create_tweet(text="hello", user_auth=True)  # the credits were added meanwhile
    assert findings(s.proxy, flows) == [
        ("GET", "/2/tweets/search/recent", None),
        ("GET", "/2/tweets/search/recent", "quota-retry"),
        ("GET", "/2/tweets/search/recent", "quota-retry"),
        ("POST", "/2/tweets", None),
        ("POST", "/2/tweets", "quota-retry"),
        ("POST", "/2/tweets", None),  # it worked: something changed, no finding
    ]
    assert sorted(verdicts(s.proxy)) == [
        "HTTP 402 Payment Required: 2 errors; quota-retry 1 -> retried a spent quota",
        "usage-capped (UsageCapExceeded): 3 errors; quota-retry 2 -> retried a spent quota",
    ]
