"""The audit's rules, on scripted traffic: who asked what when, and what came back."""

import dataclasses

import pytest

from twerr.audit.behaviour import Call
from twerr.audit.behaviour import Outcome
from twerr.audit.behaviour import Thresholds
from twerr.audit.behaviour import Tracker
from twerr.inject.windows import endpoint_key
from twerr.inject.windows import fingerprint

TIMELINE = "/1.1/statuses/user_timeline.json?screen_name=TwitterDev"
UPDATE = "/1.1/statuses/update.json"


def call(start, path=TIMELINE, *, method="GET", who="alice", body=b""):
    return Call(
        start=start,
        who=who,
        method=method,
        endpoint=endpoint_key(method, path),
        fingerprint=fingerprint(method, path, body),
        target=path,
    )


def ok(end, **changes):
    return Outcome(end, "HTTP 200", "HTTP 200 OK", 200, "success", "never", **changes)


def rate_limited(end, reset=60.0):
    return Outcome(end, "88", "88 Rate limit exceeded", 429, "rate_limit", "after_reset", reset)


def unavailable(end):
    return Outcome(end, "HTTP 503", "HTTP 503 Service Unavailable", 503, "server", "backoff")


def duplicate(end):
    return Outcome(end, "187", "187 Status is a duplicate", 403, "duplicate", "never")


def calm(end):
    return Outcome(end, "HTTP 420", "HTTP 420 Enhance Your Calm", 420, "rate_limit", "after_reset")


def expired(end):
    return Outcome(
        end,
        "89",
        "89 Invalid or expired token",
        401,
        "authentication",
        "never",
        blocks="credential",
    )


def read_only(end):
    return Outcome(end, "261", "261 Application cannot perform write actions.", 403,
                   "permission", "never", blocks="writes")  # fmt: skip


def lost(end, how="answered"):
    return Outcome(end, "reset", "no response (reset)", 0, "network", "backoff", lost=how)


def judged(steps, thresholds=None):
    """The finding names for each (call, outcome) step, in order (None: nothing found)."""
    tracker = Tracker(thresholds)
    found = []
    for request, outcome in steps:
        finding = tracker.observe(request, outcome).finding
        found.append(finding.name if finding else None)
    return found


def test_a_client_that_waits_for_the_reset_is_not_flagged():
    steps = [(call(0), rate_limited(0.1, reset=60)), (call(60.5), ok(60.6)), (call(61), ok(61.1))]
    assert judged(steps) == [None, None, None]


def test_retrying_before_the_reset_is_flagged_with_how_early():
    tracker = Tracker()
    tracker.observe(call(0), rate_limited(0.1, reset=60))
    finding = tracker.observe(call(0.5), rate_limited(0.6, reset=60)).finding
    assert finding.name == "early-retry"
    assert finding.verdict == "retry too early"
    assert finding.seconds == pytest.approx(59.5)
    assert (
        finding.text == "retried 59.5 s before the rate limit resets, after 88 Rate limit exceeded"
    )
    assert tracker.observe(call(1), rate_limited(1.1, reset=60)).finding.name == "early-retry"


@pytest.mark.parametrize(
    "retry_start,grace,expected",
    [(59.0, 1.0, None), (58.9, 1.0, "early-retry"), (59.9, 0.0, "early-retry"), (60, 0, None)],
)
def test_grace_before_the_reset(retry_start, grace, expected):
    steps = [(call(0), rate_limited(0.1, reset=60)), (call(retry_start), ok(retry_start))]
    assert judged(steps, Thresholds(grace=grace)) == [None, expected]


@pytest.mark.parametrize(
    "second",
    [
        call(1, "/1.1/friends/list.json"),  # another endpoint: another window
        call(1, who="bob"),  # another credential
        call(1, "/1.1/statuses/user_timeline.json?screen_name=jack"),  # same endpoint: early
    ],
)
def test_rate_limits_are_per_credential_and_endpoint(second):
    expected = "early-retry" if second.who == "alice" and "timeline" in second.target else None
    assert judged([(call(0), rate_limited(0.1)), (second, ok(1.1))]) == [None, expected]


def test_a_request_sent_before_the_error_arrived_is_not_a_reaction_to_it():
    # two requests in flight at once: the second began before the first one's 429 came back
    assert judged([(call(0), rate_limited(5)), (call(4), rate_limited(6))]) == [None, None]


def test_retries_at_a_steady_pace_after_a_server_error_are_a_storm():
    steps = [(call(0), unavailable(0.05))]
    steps += [(call(0.05 + 0.1 * i), unavailable(0.06 + 0.1 * i)) for i in range(1, 6)]
    assert judged(steps) == [None, None, None, "retry-storm", "retry-storm", "retry-storm"]


def test_the_storm_finding_names_the_waits():
    tracker = Tracker()
    for start in (0, 1, 2, 3):
        finding = tracker.observe(call(start), unavailable(start + 0.25)).finding
    assert finding.name == "retry-storm"
    assert finding.text == (
        "3 retries in 2.0 s after HTTP 503 Service Unavailable, waits not growing "
        "(0.75, 0.75, 0.75 s): back off exponentially"
    )


def test_exponential_backoff_is_not_a_storm():
    starts = [0, 0.5, 1.5, 3.5, 7.5, 15.5]
    steps = [(call(t), unavailable(t)) for t in starts] + [(call(31.5), ok(31.6))]
    assert judged(steps) == [None] * 7


def backing_off(waits, latency=0.0):
    """A client that waits each time after the failure, against a server that answers a
    503 `latency` seconds after the request."""
    steps, start = [], 0.0
    for wait in [0.0, *waits]:
        start += wait
        steps.append((call(start), unavailable(start + latency)))
        start += latency
    return steps


@pytest.mark.parametrize(
    "waits,latency",
    [
        ([0.25, 0.5, 0.75, 1.0, 1.25], 0.0),  # X's streaming advice: 250 ms more each time
        ([0.5, 1, 2, 4], 1.5),  # doubling, against a slow server
        ([1.3, 1.1, 2.9, 4.6, 8.2], 0.0),  # exponential with jitter: one wait shorter
    ],
)
def test_backoffs_with_jitter_steps_or_a_slow_server_are_not_storms(waits, latency):
    assert judged(backing_off(waits, latency)) == [None] * (len(waits) + 1)


def test_a_fixed_wait_is_a_storm_however_slow_the_server():
    assert judged(backing_off([0.5, 0.5, 0.5], latency=1.5))[-1] == "retry-storm"


def test_other_requests_to_the_endpoint_are_not_retries():
    # two workers fetching different pages after a 503 each: no one retried anything yet
    pages = [call(t, f"{TIMELINE}&page={t}") for t in (0, 0.1, 0.2, 0.3)]
    assert judged([(page, unavailable(page.start)) for page in pages]) == [None] * 4


def test_retries_spread_wider_than_the_storm_window_are_not_a_storm():
    steps = [(call(t), unavailable(t)) for t in (0, 6, 12, 18)]
    assert judged(steps, Thresholds(storm_retries=3, storm_seconds=10)) == [None] * 4
    steps = [(call(t), unavailable(t)) for t in (0, 4, 8, 12)]
    assert judged(steps, Thresholds(storm_retries=3, storm_seconds=10))[-1] == "retry-storm"


def test_a_success_ends_the_spell():
    steps = [(call(0), unavailable(0)), (call(0.1), unavailable(0.1)), (call(0.2), ok(0.2))]
    steps += [(call(0.3), unavailable(0.3)), (call(0.4), unavailable(0.4))]
    assert judged(steps) == [None] * 5


def test_a_rate_limit_without_a_reset_must_be_backed_off_from():
    no_reset = dataclasses.replace(rate_limited(0), retry_at=None)
    steps = [(call(t), dataclasses.replace(no_reset, end=t)) for t in (0, 0.01, 0.02, 0.03)]
    assert judged(steps) == [None, None, None, "retry-storm"]


def test_after_a_420_the_client_waits_the_calm_period():
    assert judged([(call(0), calm(0)), (call(30), calm(30))])[-1] == "early-retry"
    assert judged([(call(0), calm(0)), (call(61), ok(61))])[-1] is None
    assert judged([(call(0), calm(0)), (call(10), ok(10))], Thresholds(calm=5))[-1] is None


def test_repeating_a_request_that_got_a_permanent_error():
    post = call(0, UPDATE, method="POST", body=b"status=hello")
    again = dataclasses.replace(post, start=2)
    other = call(3, UPDATE, method="POST", body=b"status=something+else")
    assert judged([(post, duplicate(0.1)), (again, duplicate(2.1)), (other, ok(3.1))]) == [
        None,
        "permanent-retry",
        None,
    ]


def test_oauth_values_do_not_make_a_repeat_look_new():
    first = fingerprint(
        "POST", UPDATE + "?oauth_nonce=1&oauth_signature=a", b"status=hi&oauth_nonce=1"
    )
    again = fingerprint(
        "POST", UPDATE + "?oauth_nonce=2&oauth_signature=b", b"status=hi&oauth_nonce=2"
    )
    other = fingerprint(
        "POST", UPDATE + "?oauth_nonce=2&oauth_signature=b", b"status=bye&oauth_nonce=3"
    )
    assert first == again != other


def test_an_invalid_token_must_not_be_used_again():
    steps = [(call(0), expired(0.1)), (call(1, "/2/users/me"), expired(1.1))]
    steps += [(call(2, who="bob"), ok(2.1))]
    assert judged(steps) == [None, "dead-credential", None]


def test_after_a_write_ban_reads_are_fine_but_writes_are_flagged():
    steps = [(call(0, UPDATE, method="POST", body=b"status=a"), read_only(0.1))]
    favorite = call(2, "/1.1/favorites/create.json", method="POST")
    steps += [(call(1), ok(1.1)), (favorite, read_only(2.1))]
    assert judged(steps) == [None, None, "write-while-blocked"]


def test_a_credential_that_works_again_is_forgiven():
    # a 32 can come from a bad signature or clock: a success shows the token was good
    other = call(1, "/2/users/me")
    steps = [(call(0), expired(0.1)), (other, ok(1.1)), (call(2, "/2/users/me"), expired(2.1))]
    assert judged(steps) == [None, None, None]
    write = call(1, "/1.1/favorites/create.json", method="POST")
    steps = [(call(0, UPDATE, method="POST"), read_only(0.1)), (write, ok(1.1))]
    assert judged(steps) == [None, None]


def test_an_anonymous_client_is_not_banned_by_an_auth_error():
    anonymous = dataclasses.replace(call(0), who="client 127.0.0.1", anonymous=True)
    other = dataclasses.replace(anonymous, start=1, target="/2/users/me", fingerprint="other")
    assert judged([(anonymous, expired(0.1)), (other, ok(1.1))]) == [None, None]


@pytest.mark.parametrize("how", ["answered", "unknown"])
def test_repeating_a_post_whose_answer_was_lost(how):
    post = call(0, UPDATE, method="POST", body=b"status=hello")
    tracker = Tracker()
    tracker.observe(post, lost(0.5, how))
    finding = tracker.observe(dataclasses.replace(post, start=1), ok(1.2)).finding
    assert finding.name == "duplicate-write"
    assert finding.verdict == "repeated a write"
    done = "the API had done it" if how == "answered" else "it may have been done"
    assert done in finding.text


def test_repeating_a_get_whose_answer_was_lost_is_fine():
    assert judged([(call(0), lost(0.5, "unknown")), (call(1), ok(1.1))]) == [None, None]


def test_asking_again_at_once_for_ids_reported_missing():
    lookup = "/2/tweets?ids=20,1234567890"
    partial = Outcome(0.2, "resource-not-found", "Not Found Error", 200, "not_found", "never",
                      missing=frozenset({"1234567890"}))  # fmt: skip
    again, later = call(1, "/2/tweets?ids=1234567890"), call(30, "/2/tweets?ids=1234567890")
    assert judged([(call(0, lookup), partial), (again, ok(1.1))]) == [None, "missing-ids"]
    assert judged([(call(0, lookup), partial), (later, ok(30.1))]) == [None, None]
    assert judged([(call(0, lookup), partial), (call(1, "/2/tweets?ids=21"), ok(1))])[-1] is None


def test_errors_are_forgotten_after_the_memory_and_state_stays_small():
    tracker = Tracker(Thresholds(memory=900))
    tracker.observe(call(0), rate_limited(0.1, reset=5000))
    assert tracker.observe(call(10), ok(10)).finding.name == "early-retry"
    tracker.observe(call(20), rate_limited(20, reset=5000))
    assert tracker.observe(call(1000), ok(1000)).finding is None
    assert tracker.idle


def test_the_tables_are_bounded():
    tracker = Tracker(max_entries=100)
    for i in range(5000):
        tracker.observe(call(i * 0.001, who=f"user{i}"), expired(i * 0.001))
    assert len(tracker.blocked) == len(tracker.refused) == len(tracker.unfollowed) == 100
    assert len(tracker) == 300


def test_verdicts_per_error_kind():
    tracker = Tracker()
    steps = [(call(0), rate_limited(0.1)), (call(1), rate_limited(1.1)), (call(2), rate_limited(2))]
    steps += [(call(0, who="bob"), unavailable(0)), (call(9, who="bob"), ok(9))]
    steps += [(call(3, "/x", who="carol"), duplicate(3))]
    for request, outcome in steps:
        tracker.observe(request, outcome)
    assert tracker.verdicts() == [
        {
            "error": "88",
            "label": "88 Rate limit exceeded",
            "errors": 3,
            "findings": {"early-retry": 2},
            "handled": 0,
            "verdict": "retry too early",
        },
        {
            "error": "187",
            "label": "187 Status is a duplicate",
            "errors": 1,
            "findings": {},
            "handled": 0,
            "verdict": "no retry seen",  # carol sent nothing after it: no evidence
        },
        {
            "error": "HTTP 503",
            "label": "HTTP 503 Service Unavailable",
            "errors": 1,
            "findings": {},
            "handled": 1,
            "verdict": "handled well",  # bob waited 9 s, then succeeded
        },
    ]


def test_an_error_no_later_request_followed_is_no_evidence():
    tracker = Tracker()
    assert tracker.observe(call(0), duplicate(0.1)) == (None, ())
    [row] = tracker.verdicts()
    assert (row["handled"], row["verdict"]) == (0, "no retry seen")


@pytest.mark.parametrize(
    "later",
    [
        call(70),  # waited for the reset, then asked again
        call(70, "/1.1/users/show.json"),  # went on to other work
    ],
)
def test_a_later_request_without_a_finding_shows_the_error_handled_well(later):
    tracker = Tracker()
    tracker.observe(call(0), rate_limited(0.1, reset=60))
    judged = tracker.observe(later, ok(70.1))
    assert judged.finding is None
    assert judged.handled == (("88", endpoint_key("GET", TIMELINE)),)
    [row] = tracker.verdicts()
    assert (row["handled"], row["verdict"]) == (1, "handled well")


def test_a_request_that_starts_before_the_answer_follows_nothing():
    tracker = Tracker()
    tracker.observe(call(0), unavailable(5))
    assert tracker.observe(call(1, "/1.1/users/show.json"), ok(1.1)).handled == ()
    assert tracker.observe(call(6, "/1.1/users/show.json"), ok(6.1)).handled != ()


def test_a_finding_about_the_error_is_not_handling_it():
    tracker = Tracker()
    tracker.observe(call(0), rate_limited(0.1, reset=60))
    judged = tracker.observe(call(1), rate_limited(1.1, reset=60))
    assert judged.finding.name == "early-retry" and judged.handled == ()
    assert tracker.verdicts()[0]["verdict"] == "retry too early"


def test_errors_are_forgotten_also_when_the_flows_come_out_of_time_order():
    # a report over files given out of order: one flow far in the future must not stop the
    # forgetting of what came before it
    tracker = Tracker(Thresholds(memory=900))
    tracker.observe(call(-5, "/1.1/x.json", who="yves"), expired(-5))
    tracker.observe(call(1e9, who="zoe"), ok(1e9))
    tracker.observe(call(0), duplicate(0.1))
    assert tracker.observe(call(3600), duplicate(3600.1)).finding is None  # an hour later
