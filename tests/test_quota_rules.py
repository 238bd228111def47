"""The audit's rules for X's quotas and billing, on scripted traffic: the wrong reset waited
for, a spent quota retried, and money paid for requests that fail each time."""

import dataclasses

import pytest
from test_behaviour import call as behaviour_call
from test_behaviour import ok

from twerr.audit.behaviour import Thresholds
from twerr.audit.behaviour import Tracker
from twerr.audit.model import VERDICT_ORDER
from twerr.audit.model import Outcome
from twerr.audit.model import Spent
from twerr.audit.model import verdict_of
from twerr.audit.quota_rules import QuotaRules
from twerr.audit.quota_rules import clock
from twerr.audit.quota_rules import dollars

NOW = 1_765_000_800  # 2025-12-06T06:00:00Z
WINDOW = NOW + 600  # the 15-minute window resets at 06:10Z (with requests left)
APP = NOW + 5 * 3600  # the app 24-hour cap at 11:00Z (with requests left)
USER = NOW + 9 * 3600  # the user 24-hour cap, spent, at 15:00Z: it binds
SEARCH = "/2/tweets/search/recent?query=twerr"
LOOKUP = "/2/tweets?ids=20,21"
DAY = Thresholds(memory=86400)  # errors remembered for a day (twerr_audit_memory=86400)


def call(start, path=SEARCH, **given):
    return behaviour_call(start, path, **given)


def day_capped(end, *, window=WINDOW, user=USER, retry_at=USER, others=("window", "app_24h")):
    """A 429 of the spent user 24-hour cap, while the window and the app cap have requests
    left: what the audit reads of the record's `quota` and `rate_limit`."""
    resets = {"window": window, "app_24h": APP}
    spent = Spent("user_24h", "at", user, tuple((name, resets[name]) for name in others))
    return Outcome(end, "HTTP 429", "HTTP 429 Too Many Requests", 429, "rate_limit",
                   "after_reset", retry_at, quota=spent)  # fmt: skip


def credits(end):
    spent = Spent("credits", "credits-added", resets=(("window", WINDOW),))
    return Outcome(end, "credits", "credits (CreditsDepleted)", 402, "invalid_request", "never",
                   quota=spent)  # fmt: skip


def usage_capped(end, period="monthly"):
    spent = Spent("usage_cap", "next-period", resets=(("window", WINDOW),), period=period)
    return Outcome(end, "usage-capped", "usage-capped (UsageCapExceeded)", 429, "rate_limit",
                   "after_reset", quota=spent)  # fmt: skip


def lost(end, paid=0.005):
    return Outcome(end, "HTTP 500", "HTTP 500 Internal Server Error", 500, "server", "backoff",
                   lost="answered", paid=paid)  # fmt: skip


def partial(end, paid=0.005):
    return Outcome(end, "resource-not-found", "resource-not-found (Not Found Error)", 200,
                   "not_found", "never", missing=frozenset({"21"}), paid=paid)  # fmt: skip


def judged(steps, thresholds=None, tracker=None):
    """The finding names for each (call, outcome) step, in order (None: nothing found)."""
    tracker = tracker or Tracker(thresholds)
    found = []
    for request, outcome in steps:
        finding = tracker.observe(request, outcome).finding
        found.append(finding.name if finding else None)
    return found


def finding_of(steps, thresholds=None):
    """The finding on the last step."""
    tracker = Tracker(thresholds)
    for request, outcome in steps:
        finding = tracker.observe(request, outcome).finding
    return finding


# wrong-reset


def test_waking_at_the_window_reset_while_a_day_cap_binds_is_the_wrong_reset():
    first = (call(NOW), day_capped(NOW + 0.2))
    finding = finding_of([first, (call(WINDOW + 0.5), day_capped(WINDOW + 0.7))])
    assert finding.name == "wrong-reset"
    assert finding.verdict == "waited for the wrong reset"
    assert finding.kind == "HTTP 429"
    assert finding.text == (
        "retried at the 15-minute window's reset (06:10Z) but the user 24-hour cap binds "
        "until 15:00Z: wait for x-user-limit-24hour-reset"
    )
    assert finding.seconds == pytest.approx(USER - WINDOW - 0.5)


@pytest.mark.parametrize(
    "start,expected",
    [
        (NOW + 60, "early-retry"),  # before any reset: too early, whatever binds
        (WINDOW - 30, "early-retry"),
        (WINDOW - 0.5, "wrong-reset"),  # within twerr_audit_grace of the reset: at it
        (WINDOW, "wrong-reset"),
        (WINDOW + 3600, "wrong-reset"),  # after it, still before the cap frees
        (APP + 10, "wrong-reset"),  # at the app cap's reset: it did not bind either
        (USER - 0.5, None),  # waited for the binding reset (less the grace): handled well
        (USER + 2, None),
    ],
)
def test_which_reset_a_retry_came_at(start, expected):
    steps = [(call(NOW), day_capped(NOW + 0.2)), (call(start), ok(start + 0.1))]
    assert judged(steps, DAY) == [None, expected]


@pytest.mark.parametrize(
    "start,text",
    [
        (WINDOW + 2, "retried at the 15-minute window's reset (06:10Z)"),
        (WINDOW + 3600, "retried after the 15-minute window's reset (06:10Z)"),
        (APP + 10, "retried at the app 24-hour cap's reset (11:00Z)"),  # the latest passed
    ],
)
def test_the_text_names_the_latest_reset_the_retry_came_after(start, text):
    steps = [(call(NOW), day_capped(NOW)), (call(start), day_capped(start))]
    finding = finding_of(steps, DAY)
    assert finding.text.startswith(f"{text} but the user 24-hour cap binds until 15:00Z")


def test_a_cap_freed_tomorrow_is_named_with_its_day():
    tomorrow = NOW + 20 * 3600
    steps = [(call(NOW), day_capped(NOW, user=tomorrow, retry_at=tomorrow))]
    finding = finding_of([*steps, (call(WINDOW), day_capped(WINDOW))])
    assert "binds until 2025-12-07 02:00Z" in finding.text


def test_the_binding_limit_is_waited_for_even_when_the_header_time_is_earlier():
    # the record's retry_at names the window's reset; the quota reading knows the cap binds
    first = (call(NOW), day_capped(NOW, retry_at=WINDOW))
    assert judged([first, (call(WINDOW + 1), ok(WINDOW + 1))]) == [None, "wrong-reset"]


def test_a_plain_spent_window_has_no_other_reset_to_wake_at():
    only = day_capped(NOW, others=())
    assert judged([(call(NOW), only), (call(NOW + 60), ok(NOW + 60))])[-1] == "early-retry"


def test_after_a_420_the_calm_binds_not_a_window_reset():
    spent = Spent("unseen", "backoff", None, (("window", NOW + 30),))
    calm = Outcome(NOW, "HTTP 420", "HTTP 420 Enhance Your Calm", 420, "rate_limit",
                   "after_reset", quota=spent)  # fmt: skip
    assert judged([(call(NOW), calm), (call(NOW + 31), ok(NOW + 31))]) == [None, "early-retry"]


def test_the_wrong_reset_is_judged_per_endpoint_and_client():
    first = (call(NOW), day_capped(NOW))
    other_endpoint = call(WINDOW + 1, "/2/users/me")
    assert judged([first, (other_endpoint, ok(WINDOW + 1))]) == [None, None]
    assert judged([first, (call(WINDOW + 1, who="bob"), ok(WINDOW + 1))]) == [None, None]


# quota-retry


def test_calling_again_after_spent_credits_and_being_refused_again():
    steps = [(call(NOW, "/2/tweets", method="POST", body=b'{"text":"hi"}'), credits(NOW + 0.2))]
    finding = finding_of([*steps, (call(NOW + 30, "/2/users/me"), credits(NOW + 30.1))])
    assert finding.name == "quota-retry"
    assert finding.verdict == "retried a spent quota"
    assert finding.kind == "credits"
    assert finding.text == (
        "called GET /2/users/me 29.8 s after credits (CreditsDepleted) on POST /2/tweets and was "
        "refused again: no request succeeds until credits are added (or the spending limit is "
        "raised): stop calling until then"
    )
    assert finding.seconds == pytest.approx(29.8)


def test_repeating_a_request_refused_by_a_usage_cap():
    finding = finding_of([(call(NOW), usage_capped(NOW)), (call(NOW + 5), usage_capped(NOW + 5))])
    assert finding.name == "quota-retry"
    assert finding.text == (
        "called again 5.0 s after usage-capped (UsageCapExceeded) and was refused again: the "
        "monthly usage cap holds every request it covers until the next monthly period: stop "
        "calling until then, or move to a larger plan"
    )
    unnamed = finding_of(
        [(call(NOW), usage_capped(NOW, "")), (call(NOW + 1), usage_capped(NOW + 1))]
    )
    assert "the usage cap holds every request it covers until its period ends" in unnamed.text


def test_a_success_after_spent_credits_means_credits_were_added():
    # before: a 402 is a permanent error, so its repeat was flagged even when it worked
    post = call(NOW, "/2/tweets", method="POST", body=b'{"text":"hi"}')
    again = dataclasses.replace(post, start=NOW + 60)
    assert judged([(post, credits(NOW)), (again, ok(NOW + 60.2))]) == [None, None]


def test_a_success_forgives_spent_credits():
    steps = [(call(NOW), credits(NOW)), (call(NOW + 60, "/2/users/me"), ok(NOW + 60))]
    steps += [(call(NOW + 70), credits(NOW + 70)), (call(NOW + 80), credits(NOW + 80))]
    assert judged(steps) == [None, None, None, "quota-retry"]


def test_a_usage_cap_is_forgiven_only_by_a_success_where_it_refused():
    steps = [(call(NOW), usage_capped(NOW))]
    steps += [(call(NOW + 1, "/2/tweets", method="POST"), ok(NOW + 1))]  # not capped there
    steps += [(call(NOW + 2), usage_capped(NOW + 2))]
    steps += [(call(NOW + 3), ok(NOW + 3))]  # the next period: the cap is lifted
    steps += [(call(NOW + 4), usage_capped(NOW + 4))]
    assert judged(steps) == [None, None, "quota-retry", None, None]


def test_retrying_a_usage_cap_quickly_is_a_spent_quota_not_a_storm():
    steps = [(call(NOW + t), usage_capped(NOW + t + 0.01)) for t in (0, 0.1, 0.2, 0.3)]
    assert judged(steps) == [None, "quota-retry", "quota-retry", "quota-retry"]


@pytest.mark.parametrize(
    "second",
    [
        (call(NOW + 1, who="bob"), credits(NOW + 1.1)),  # another client
        (call(NOW + 0.1), credits(NOW + 0.3)),  # sent before the first refusal came back
        (call(NOW + 1), usage_capped(NOW + 1.1)),  # another refusal: the credits were added
        (call(NOW + 1), lost(NOW + 1.1, paid=0)),  # no answer: nothing to tell
        (call(NOW + 1), ok(NOW + 1.1)),  # it worked
    ],
)
def test_only_the_same_refusal_of_the_same_client_afterwards_is_a_retry(second):
    assert judged([(call(NOW), credits(NOW + 0.2)), second]) == [None, None]


def test_a_client_without_a_credential_is_not_judged_by_an_account_quota():
    anonymous = dataclasses.replace(call(NOW), who="client 127.0.0.1", anonymous=True)
    again = dataclasses.replace(anonymous, start=NOW + 1)
    assert judged([(anonymous, credits(NOW)), (again, credits(NOW + 1))]) == [None, None]


def test_a_client_that_stops_after_a_spent_quota_is_no_evidence_and_one_that_waits_is_fine():
    tracker = Tracker()
    tracker.observe(call(NOW), credits(NOW))
    assert tracker.verdicts()[0]["verdict"] == "no retry seen"
    assert tracker.observe(call(NOW + 600, "/2/users/me"), ok(NOW + 600)).handled
    assert tracker.verdicts()[0]["verdict"] == "handled well"


# paid-failures


def test_paying_again_for_a_request_whose_answer_is_lost_each_time():
    tracker = Tracker()
    findings = [tracker.observe(call(NOW + t), lost(NOW + t + 0.5)).finding for t in (0, 2, 4)]
    assert findings[0] is None
    assert [f.name for f in findings[1:]] == ["paid-failures", "paid-failures"]
    assert findings[1].verdict == "paid for failures"
    assert findings[1].kind == "HTTP 500"
    assert findings[2].text == (
        "paid 3 times for the same request, $0.015 so far, and it failed each time (the answer "
        "was lost after the API billed it): cap the retries of a billed request"
    )
    assert findings[2].seconds == pytest.approx(3.5)  # since the first paid failure's answer


def test_paying_again_for_a_partial_answer_whose_failed_items_are_asked_for_again():
    steps = [(call(NOW, LOOKUP), partial(NOW + 0.1)), (call(NOW + 1, LOOKUP), partial(NOW + 1.1))]
    finding = finding_of(steps)
    assert finding.name == "paid-failures"  # ahead of missing-ids: it costs money
    assert finding.text == (
        "paid 2 times for the same request, $0.01 so far, and it failed each time "
        "(resource-not-found (Not Found Error) beside the data): take the errors beside the "
        "data as final instead of buying the data again"
    )


@pytest.mark.parametrize(
    "steps",
    [
        [(call(NOW), lost(NOW, paid=0)), (call(NOW + 1), lost(NOW + 1, paid=0))],  # no wallet
        [(call(NOW), lost(NOW)), (call(NOW + 1, "/2/users/me"), lost(NOW + 1))],  # others
        [(call(NOW), lost(NOW)), (call(NOW + 1), ok(NOW + 1, paid=0.005))],  # it worked
        [(call(NOW), lost(NOW + 0.5)), (call(NOW + 0.1), lost(NOW + 0.6))],  # concurrent
    ],
)
def test_what_is_not_paying_for_failures(steps):
    assert judged(steps) == [None, None]


def test_a_success_in_between_starts_the_count_again():
    steps = [(call(NOW), lost(NOW)), (call(NOW + 1), ok(NOW + 1)), (call(NOW + 2), lost(NOW + 2))]
    steps += [(call(NOW + 3), lost(NOW + 3, paid=0))]  # unbilled: not counted, not forgiving
    steps += [(call(NOW + 4), lost(NOW + 4))]
    assert judged(steps) == [None, None, None, None, "paid-failures"]


def test_a_lost_post_repeated_is_a_duplicate_write_first():
    post = call(NOW, "/2/tweets", method="POST", body=b'{"text":"hi"}')
    again = dataclasses.replace(post, start=NOW + 2)
    assert judged([(post, lost(NOW + 1)), (again, lost(NOW + 3))]) == [None, "duplicate-write"]


# verdicts, state


def test_the_new_verdicts_in_the_order_of_severity():
    assert VERDICT_ORDER == (
        "repeated a write",
        "paid for failures",
        "retried a permanent error",
        "retried a spent quota",
        "retry storm",
        "retry too early",
        "waited for the wrong reset",
        "handled well",
        "no retry seen",
    )
    assert verdict_of({"wrong-reset", "early-retry"}, handled=True) == "retry too early"
    assert verdict_of({"quota-retry", "paid-failures"}, handled=False) == "paid for failures"
    assert verdict_of({"quota-retry", "retry-storm"}, handled=False) == "retried a spent quota"


def test_the_quota_tables_are_bounded():
    tracker = Tracker(max_entries=100)
    for i in range(3000):
        tracker.observe(call(NOW + i * 0.001, who=f"user{i}"), credits(NOW + i * 0.001))
        tracker.observe(call(NOW + i * 0.001, f"/2/x/{i}"), lost(NOW + i * 0.001))
    assert len(tracker.quota_rules.refused) == len(tracker.quota_rules.paid) == 100
    assert len(tracker.quota_rules) == 200


def test_the_quota_tables_forget_after_the_memory():
    tracker = Tracker(Thresholds(memory=900))
    tracker.observe(call(NOW), credits(NOW))
    tracker.observe(call(NOW, LOOKUP), lost(NOW))
    assert tracker.observe(call(NOW + 1000, LOOKUP), lost(NOW + 1000)).finding is None
    assert tracker.observe(call(NOW + 1001), credits(NOW + 1001)).finding is None
    tracker.observe(call(NOW + 3000), ok(NOW + 3000))
    assert tracker.idle


def test_a_paid_partial_keeps_its_client_known_so_that_a_success_can_clear_it():
    # the audit judges a success only of a client it knows: one told of an error lately
    tracker = Tracker()
    no_ids = dataclasses.replace(partial(NOW), missing=frozenset())
    tracker.observe(call(NOW, LOOKUP), no_ids)
    assert tracker.knows("alice") and tracker.quota_rules.paid
    tracker.observe(call(NOW + 1, LOOKUP), ok(NOW + 1))
    assert not tracker.quota_rules.paid


class Untouchable(QuotaRules):
    def judge(self, call, outcome):
        raise AssertionError("asked about a flow with no quota and no cost")

    def remember(self, call, outcome):
        raise AssertionError("told of a flow with no quota and no cost")


def test_flows_with_no_quota_and_no_cost_never_reach_the_quota_rules():
    tracker = Tracker()
    tracker.quota_rules = Untouchable(100)
    unavailable = Outcome(NOW, "HTTP 503", "HTTP 503", 503, "server", "backoff")
    limited = day_capped(NOW, others=())
    limited.quota = None
    steps = [(call(NOW + t), unavailable) for t in (1, 2, 3)]
    steps += [(call(NOW + 4, "/2/x"), limited), (call(NOW + 5, "/2/x"), ok(NOW + 5))]
    assert judged(steps, tracker=tracker) == [None, None, None, None, "early-retry"]


@pytest.mark.parametrize(
    "usd,text", [(0.01, "$0.01"), (0.015, "$0.015"), (0.4, "$0.40"), (1234.5, "$1,234.50")]
)
def test_dollars(usd, text):
    assert dollars(usd) == text


@pytest.mark.parametrize(
    "epoch,text",
    [(WINDOW, "06:10Z"), (WINDOW + 7, "06:10:07Z"), (NOW + 86400, "2025-12-07 06:00Z")],
)
def test_clock(epoch, text):
    assert clock(epoch, NOW) == text
