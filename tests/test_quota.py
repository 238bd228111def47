"""Which limit binds a refused request, and when a retry can first succeed: every combination
of spent limits (the 15-minute window, the app and user 24-hour caps, a usage cap, credits)."""

import itertools
import json

import pytest

from twerr.decode import decode
from twerr.decode.quota import quota_of

NOW = 1_765_000_800  # 2025-12-06T06:00:00Z
RESETS = {"window": NOW + 600, "app_24h": NOW + 5 * 3600, "user_24h": NOW + 9 * 3600}
PREFIX = {
    "window": "x-rate-limit",
    "app_24h": "x-app-limit-24hour",
    "user_24h": "x-user-limit-24hour",
}
LIMITS = {"window": 900, "app_24h": 1000, "user_24h": 100}
CAP = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.x.com/2/problems/usage-capped",
    "period": "Monthly",
    "scope": "Product",
    "product_name": "standard-basic",
    "account_id": 1511022367,
}
CREDITS = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account does not have any credits to fulfill this request.",
    "type": "https://api.x.com/2/problems/credits",
    "account_id": 1511022367,
}
GENERIC_429 = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}
WORDS = {
    "window": "the 15-minute window",
    "app_24h": "the app 24-hour cap",
    "user_24h": "the user 24-hour cap",
}
WINDOW_SETS = [
    frozenset(names)
    for size in range(4)
    for names in itertools.combinations(("window", "app_24h", "user_24h"), size)
]


def headers(spent, sent=("window", "app_24h", "user_24h"), resets=RESETS):
    out = []
    for name in sent:
        remaining = 0 if name in spent else LIMITS[name] // 2
        for suffix, value in (
            ("limit", LIMITS[name]),
            ("remaining", remaining),
            ("reset", resets[name]),
        ):
            out.append((f"{PREFIX[name]}-{suffix}".encode(), str(value).encode()))
    return out


def quota(status, heads, body, now=NOW):
    return quota_of(decode(status, heads, json.dumps(body).encode(), path="/2/tweets"), now)


@pytest.mark.parametrize("spent", WINDOW_SETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_the_spent_limit_freed_last_binds_and_says_when(spent):
    q = quota(429, headers(spent), GENERIC_429)
    if not spent:  # a 429 whose headers show nothing spent: a limit they do not show
        assert (q.spent, q.retry_at, q.retry_when) == (("unseen",), None, "backoff")
        # what binds is unknown (X's per-second limits send no header): no reset is said to fail
        assert q.summary == "blocked by a limit no header shows: no header says when; back off"
        return
    by_reset = sorted(spent, key=RESETS.__getitem__, reverse=True)
    assert q.spent == tuple(by_reset)
    assert q.binding == by_reset[0]
    assert (q.retry_at, q.retry_when) == (RESETS[by_reset[0]], "at")
    assert q.summary.startswith(f"blocked by {WORDS[q.binding]} (0/{LIMITS[q.binding]}, resets ")
    for name in by_reset[1:]:  # an earlier reset of another spent limit cannot help
        assert f"retrying at {WORDS[name]}'s reset" in q.summary
    if "window" not in spent:  # the usual trap: the window has requests left
        assert "the 15-minute window has 450 left: retrying at its reset will fail" in q.summary
    else:
        assert "left: retrying at its reset" not in q.summary
    if len(spent) == 1:  # one spent limit names its own reset: no second "retry at"
        assert "retry at" not in q.summary


def test_the_one_line_for_a_user_cap_while_the_window_has_requests_left():
    q = quota(429, headers({"user_24h"}), GENERIC_429, now=NOW)
    assert q.summary == (
        "blocked by the user 24-hour cap (0/100, resets 15:00Z); "
        "the 15-minute window has 450 left: retrying at its reset will fail"
    )


def test_a_cap_that_resets_tomorrow_names_the_day_and_the_futile_window_reset():
    resets = {**RESETS, "user_24h": NOW + 20 * 3600}
    q = quota(
        429,
        headers({"user_24h", "window"}, resets=resets),
        {"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
    )
    assert q.summary == (
        "blocked by the user 24-hour cap (0/100, resets 2025-12-07 02:00Z) and the 15-minute "
        "window (0/900, resets 06:10Z): retry at 2025-12-07 02:00Z; "
        "retrying at the 15-minute window's reset (06:10Z) will fail"
    )


@pytest.mark.parametrize("spent", WINDOW_SETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_a_usage_cap_binds_over_every_window(spent):
    q = quota(429, headers(spent), CAP)
    assert q.spent[0] == "usage_cap" and set(q.spent[1:]) == spent
    assert (q.retry_at, q.retry_when) == (None, "next-period")
    assert q.summary.startswith("blocked by the monthly usage cap (Product, standard-basic)")
    assert "no retry succeeds before the next monthly period" in q.summary
    for name in spent:  # no reset of a window frees a spent cap
        assert f"retrying at {WORDS[name]}'s reset" in q.summary
    if "window" not in spent:
        assert "the 15-minute window has 450 left: retrying at its reset will fail" in q.summary


@pytest.mark.parametrize("spent", WINDOW_SETS, ids=lambda s: "+".join(sorted(s)) or "none")
@pytest.mark.parametrize("with_cap", [False, True])
def test_spent_credits_bind_over_everything(spent, with_cap):
    body = {"errors": [CREDITS, CAP]} if with_cap else CREDITS
    q = quota(402, headers(spent), body)
    assert q.spent[0] == "credits"
    assert set(q.spent[1:]) == spent | ({"usage_cap"} if with_cap else set())
    assert (q.retry_at, q.retry_when) == (None, "credits-added")
    assert "no retry succeeds until credits are added" in q.summary


def test_a_402_with_no_body_is_spent_credits():
    q = quota_of(decode(402, [], b"", path="/2/tweets"), NOW)
    assert (q.spent, q.retry_when) == (("credits",), "credits-added")


def test_retry_after_alone_says_when():
    heads = [(b"retry-after", b"120"), (b"date", b"Sat, 06 Dec 2025 06:00:00 GMT")]
    q = quota(429, heads, GENERIC_429)
    assert (q.spent, q.retry_at, q.retry_when) == (("unseen",), NOW + 120, "at")
    assert q.summary == "blocked by a limit no header shows: retry at 06:02Z"


def test_a_spent_window_that_names_no_reset_leaves_no_time():
    heads = [(b"x-rate-limit-limit", b"900"), (b"x-rate-limit-remaining", b"0")]
    q = quota(429, heads, GENERIC_429)
    assert (q.spent, q.retry_at, q.retry_when) == (("window",), None, "backoff")
    assert q.summary == "blocked by the 15-minute window (0/900): no header says when; back off"


def test_times_within_a_minute_keep_their_seconds():
    resets = {**RESETS, "window": NOW + 7}
    q = quota(429, headers({"window"}, sent=("window",), resets=resets), GENERIC_429)
    assert q.summary == "blocked by the 15-minute window (0/900, resets 06:00:07Z)"


@pytest.mark.parametrize(
    "status,body",
    [
        (200, {"data": {"id": "1"}}),
        (403, {"errors": [{"code": 187, "message": "Status is a duplicate."}]}),
        (503, GENERIC_429 | {"title": "Service Unavailable"}),
    ],
)
def test_other_responses_have_no_quota(status, body):
    assert quota(status, headers({"window"}), body) is None


def test_a_daily_limit_error_outside_a_429_has_a_quota():
    body = {"errors": [{"code": 185, "message": "User is over daily status update limit."}]}
    q = quota(403, headers({"user_24h"}), body)
    assert q.binding == "user_24h" and q.retry_at == RESETS["user_24h"]


def test_too_many_stream_connections_binds_on_the_connection_limit():
    body = {
        "title": "ConnectionException",
        "detail": "This stream is currently at the maximum allowed connection limit.",
        "connection_issue": "TooManyConnections",
        "type": "https://api.twitter.com/2/problems/streaming-connection",
    }
    q = quota(429, headers(set(), sent=("window",)), body)
    assert (q.spent, q.retry_when) == (("connections",), "backoff")
    assert q.summary.startswith("blocked by the stream's connection limit: no header says when")


@pytest.mark.parametrize(
    "body",
    [
        {
            "title": "Forbidden",
            "detail": "Your monthly spend cap has been reached.",
            "type": "https://api.x.com/2/problems/spend-cap-reached",
        },
        {  # the older form: the credits type on a 403
            "title": "SpendCapReached",
            "detail": "Your monthly spend cap has been reached.",
            "type": "https://api.x.com/2/problems/credits",
        },
    ],
)
def test_a_spending_limit_binds_until_the_next_billing_cycle(body):
    q = quota(403, headers(set(), sent=("window",)), body)
    assert (q.spent, q.retry_at, q.retry_when) == (("spend_cap",), None, "next-period")
    assert q.summary.startswith(
        "blocked by the account's spending limit: no retry succeeds before the next billing cycle"
    )


def test_a_spending_limit_that_names_its_cycle_says_when():
    body = {
        "title": "SpendCapReached",
        "detail": "... API requests will be blocked until the next cycle begins on 2026-04-14.",
        "reset_date": "2026-04-14",
        "type": "https://api.twitter.com/2/problems/credits",
    }
    q = quota(403, [], body, now=1_776_000_000)  # 2026-04-12
    assert (q.spent, q.retry_at, q.retry_when) == (("spend_cap",), 1_776_124_800, "at")
    assert q.summary == "blocked by the account's spending limit: retry at 2026-04-14 00:00Z"
