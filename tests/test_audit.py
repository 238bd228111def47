"""The audit addon through mitmproxy's hooks: findings written on the offending flows."""

import logging

import pytest
from mitmproxy import exceptions
from mitmproxy import flow as mitmflow
from mitmproxy.test import taddons

import corpus
from twerr.addon import Twerr
from twerr.audit.audit import AUDIT_MARKER
from twerr.audit.audit import who_of

BY_ID = {sample.id: sample for sample in corpus.load().responses}
TOKEN = "AAAAAAAAAAAAAAAAAAAAAauditTestToken"


def flow_at(sample_id, start, *, token=TOKEN, url=None, body=b""):
    """A recorded flow of the sample, its request made at `start` (epoch seconds)."""
    flow = corpus.make_flow(BY_ID[sample_id])
    if url:
        flow.request.url = url
    flow.request.headers["authorization"] = f"Bearer {token}"
    flow.request.content = body
    flow.request.timestamp_start, flow.request.timestamp_end = start, start + 0.01
    flow.response.timestamp_start, flow.response.timestamp_end = start + 0.1, start + 0.11
    return flow


class Proxy:
    """twerr as the script loads it, fed recorded flows (the classifier, the audit after it)."""

    def __init__(self, tctx, twerr):
        self.tctx, self.twerr = tctx, twerr
        self.classifier, self.audit = twerr.parts.classifier, twerr.parts.audit

    def send(self, flow):
        if flow.error is not None:
            self.classifier.error(flow)
        else:
            self.classifier.response(flow)
        return flow


@pytest.fixture
def proxy():
    twerr = Twerr()
    with taddons.context(twerr) as tctx:
        yield Proxy(tctx, twerr)


def test_a_retry_before_the_reset_is_written_on_the_flow(proxy, caplog):
    first = proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    reset = first.metadata["twerr"]["retry_at"]
    assert first.metadata["twerr"]["audit"] is None
    caplog.set_level(logging.INFO)
    retry = proxy.send(flow_at("v1.1-88-rate-limit", reset - 600.0))
    meta = retry.metadata["twerr"]
    assert meta["audit"] == {
        "finding": "early-retry",
        "verdict": "retry too early",
        "error": "88",
        "text": "retried 600.0 s before the rate limit resets, after 88 Rate limit exceeded",
        "seconds": 600.0,
    }
    line = "audit: retry too early — " + meta["audit"]["text"]
    assert retry.comment.split("\n")[-1] == line
    assert meta["comment"].endswith(line)
    assert retry.marked == meta["marker"] == AUDIT_MARKER
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "GET api.twitter.com/1.1/statuses/user_timeline.json: retry too early: "
        + meta["audit"]["text"]
    ]


def test_a_retry_after_the_reset_is_fine(proxy):
    first = proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    retry = proxy.send(flow_at("v1.1-success-gzip", first.metadata["twerr"]["retry_at"] + 0.5))
    assert retry.metadata["twerr"]["audit"] is None
    assert retry.marked == ""


def test_the_credential_separates_clients(proxy):
    first = proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    other = proxy.send(flow_at("v1.1-88-rate-limit", 1648976001.0, token="another-token"))
    assert first.metadata["twerr"]["audit"] is None
    assert other.metadata["twerr"]["audit"] is None


def test_the_finding_holds_no_credential(proxy):
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    retry = proxy.send(flow_at("v1.1-88-rate-limit", 1648976001.0))
    assert retry.metadata["twerr"]["audit"]
    assert TOKEN not in str(retry.metadata) and TOKEN not in retry.comment


def test_repeating_a_duplicate_post(proxy):
    proxy.send(flow_at("v1.1-187-duplicate", 1000.0, body=b"status=hello"))
    again = proxy.send(flow_at("v1.1-187-duplicate", 1002.0, body=b"status=hello"))
    assert again.metadata["twerr"]["audit"]["finding"] == "permanent-retry"
    assert again.metadata["twerr"]["audit"]["verdict"] == "retried a permanent error"
    other = proxy.send(flow_at("v1.1-187-duplicate", 1003.0, body=b"status=other"))
    assert other.metadata["twerr"]["audit"] is None


def test_a_locked_account_must_not_keep_writing(proxy):
    proxy.send(flow_at("v1.1-326-locked", 1000.0))
    read = proxy.send(flow_at("v1.1-success-gzip", 1001.0))
    write = proxy.send(flow_at("v1.1-187-duplicate", 1002.0, body=b"status=new"))  # refused
    assert read.metadata["twerr"]["audit"] is None
    assert write.metadata["twerr"]["audit"]["finding"] == "write-while-blocked"
    assert "326" in write.metadata["twerr"]["audit"]["text"]


def test_an_invalid_token_must_be_replaced(proxy):
    proxy.send(flow_at("v1.1-32-auth", 1000.0))
    show = "https://api.twitter.com/1.1/statuses/show.json?id=20"
    again = proxy.send(flow_at("v1.1-32-auth", 1001.0, url=show))
    assert again.metadata["twerr"]["audit"]["finding"] == "dead-credential"
    assert again.marked == AUDIT_MARKER
    fine = proxy.send(flow_at("v2-success-gzip", 1002.0))  # it worked after all: forgiven
    assert fine.metadata["twerr"]["audit"] is None


def test_a_post_repeated_after_its_answer_was_lost(proxy):
    lost = flow_at("v1.1-187-duplicate", 1000.0, body=b"status=hello")
    lost.response = None
    lost.error = mitmflow.Error("Connection reset by peer", timestamp=1000.5)
    proxy.send(lost)
    assert lost.metadata["twerr"]["shape"] == "transport-error"
    again = proxy.send(flow_at("v1.1-187-duplicate", 1001.0, body=b"status=hello"))
    assert again.metadata["twerr"]["audit"]["finding"] == "duplicate-write"
    assert "it may have been done" in again.metadata["twerr"]["audit"]["text"]


def test_a_post_repeated_after_an_injected_lost_response(proxy):
    lost = flow_at("v1.1-187-duplicate", 1000.0, body=b"status=hello")
    lost.metadata["twerr"] = {"injected": {"fault": "131", "phase": "response"}}
    proxy.send(lost)
    again = proxy.send(flow_at("v1.1-187-duplicate", 1001.0, body=b"status=hello"))
    assert again.metadata["twerr"]["audit"]["finding"] == "duplicate-write"
    assert "the API had done it" in again.metadata["twerr"]["audit"]["text"]


def test_asking_again_for_missing_ids(proxy):
    proxy.send(flow_at("v2-partial-not-found", 1000.0))
    again = proxy.send(
        flow_at("v2-success-gzip", 1001.0, url="https://api.twitter.com/2/tweets?ids=456")
    )
    assert again.metadata["twerr"]["audit"]["finding"] == "missing-ids"
    assert again.metadata["twerr"]["audit"]["text"].startswith("asked again at once for 456")


def test_a_storm_of_retries_after_503s(proxy):
    flows = [proxy.send(flow_at("v2-503-service-unavailable", 1000.0 + i * 0.2)) for i in range(5)]
    found = [
        f.metadata["twerr"]["audit"] and f.metadata["twerr"]["audit"]["finding"] for f in flows
    ]
    assert found == [None, None, None, "retry-storm", "retry-storm"]


def test_a_marker_someone_else_set_is_kept(proxy):
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    retry = flow_at("v1.1-88-rate-limit", 1648976001.0)
    retry.marked = ":star:"
    proxy.send(retry)
    assert retry.metadata["twerr"]["audit"] is not None
    assert retry.marked == ":star:"


def test_flows_outside_the_scope_are_not_judged(proxy):
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    outside = flow_at("v1.1-88-rate-limit", 1648976001.0, url="https://example.com/1.1/x.json")
    proxy.send(outside)
    assert "twerr" not in outside.metadata
    assert outside.comment == ""


def test_reclassifying_a_flow_drops_the_old_finding(proxy):
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    retry = proxy.send(flow_at("v1.1-88-rate-limit", 1648976001.0))
    assert retry.comment.count("audit:") == 1
    proxy.classifier.response(retry)  # a replay, say: the classifier writes afresh
    assert "audit:" not in retry.comment
    assert retry.metadata["twerr"]["audit"] is None


def test_the_audit_can_be_switched_off(proxy):
    proxy.tctx.configure(proxy.twerr, twerr_audit=False)
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    retry = proxy.send(flow_at("v1.1-88-rate-limit", 1648976001.0))
    assert retry.metadata["twerr"]["audit"] is None


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("twerr_audit_storm", "1/10", "at least 2 retries"),
        ("twerr_audit_storm", "three", "Cannot parse twerr_audit_storm option 'three'"),
        ("twerr_audit_storm", "3/0", "positive time"),
        ("twerr_audit_grace", -1, "twerr_audit_grace must be at least 0"),
        ("twerr_audit_memory", 0, "twerr_audit_memory must be at least 1"),
    ],
)
def test_bad_thresholds_are_refused_and_the_old_ones_kept(proxy, option, value, message):
    proxy.tctx.configure(proxy.twerr, twerr_audit_storm="4/20")
    before = proxy.audit.tracker.thresholds
    with pytest.raises(exceptions.OptionsError, match=message):
        proxy.tctx.configure(proxy.twerr, **{option: value})
    assert proxy.audit.tracker.thresholds == before
    assert (before.storm_retries, before.storm_seconds) == (4, 20.0)


def test_thresholds_are_options(proxy):
    proxy.tctx.configure(proxy.twerr, twerr_audit_storm="2/1", twerr_audit_grace=0)
    thresholds = proxy.audit.tracker.thresholds
    assert (thresholds.storm_retries, thresholds.storm_seconds, thresholds.grace) == (2, 1.0, 0)


def test_verdicts_by_command(proxy):
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0))
    proxy.send(flow_at("v1.1-88-rate-limit", 1648976001.0))
    proxy.send(flow_at("v1.1-187-duplicate", 1648976002.0))
    assert proxy.twerr.audit() == (
        "88 Rate limit exceeded: 2 errors; early-retry 1 -> retry too early\n"
        "187 Status is a duplicate: 1 error -> no retry seen"  # the last request: no evidence
    )


def test_who_is_the_credential_from_the_header_or_the_query_else_the_address():
    def who(url, authorization=None):
        flow = flow_at("v1.1-success-gzip", 1000.0, url=url)
        del flow.request.headers["authorization"]
        if authorization:
            flow.request.headers["authorization"] = authorization
        return who_of(flow)

    base = "https://api.twitter.com/1.1/statuses/home_timeline.json"
    signed = "oauth_consumer_key=ck&oauth_nonce={}&oauth_token=tk&oauth_signature={}"
    in_query = who(f"{base}?count=5&{signed.format('n1', 's1')}")
    # a new nonce and signature with every request: the same client
    assert in_query == who(f"{base}?{signed.format('n2', 's2')}&count=5")
    assert in_query == who(f"{base}?{signed.format('n3', 's3').replace('oauth', '%6Fauth')}")
    raw = flow_at("v1.1-success-gzip", 1000.0)
    del raw.request.headers["authorization"]
    # a raw path (HTTP/2 lets one through) with a tab in its names, which URL parsing drops
    raw.request.path = f"/1.1/x.json?{signed.format('n5', 's5').replace('oauth', 'oa\tuth')}"
    assert who_of(raw) == in_query
    assert in_query != who(f"{base}?{signed.format('n1', 's1').replace('=tk', '=other')}")
    header = 'OAuth oauth_consumer_key="ck", oauth_nonce="n4", oauth_token="tk"'
    assert who(base, header) == in_query
    assert who(f"{base}?count=5") == "client 127.0.0.1"  # no credential: its address
    assert who(f"{base}?q=%23twerr") == "client 127.0.0.1"
    # a host no URL can hold (a SOCKS client may name one): mitmproxy's request.query raises
    odd = flow_at("v1.1-success-gzip", 1000.0)
    del odd.request.headers["authorization"]
    odd.request.host = "a]b"
    odd.request.path = f"/1.1/x.json?{signed.format('n6', 's6')}"
    assert who_of(odd) == in_query


def test_a_client_hammering_a_spent_window_has_every_flow_flagged_and_a_line_a_kind(proxy, caplog):
    caplog.set_level(logging.INFO)
    flows = [proxy.send(flow_at("v1.1-88-rate-limit", 1648976000.0 + i)) for i in range(20)]
    assert all(flow.metadata["twerr"]["audit"]["finding"] == "early-retry" for flow in flows[1:])
    assert all(flow.marked == AUDIT_MARKER for flow in flows[1:])
    lines = [r.getMessage() for r in caplog.records if r.name == "twerr.flows"]
    assert len(lines) == 2  # the error once, the finding once: the repeats are counted
    proxy.twerr.done()
    lines = [r.getMessage() for r in caplog.records if r.name == "twerr.flows"]
    assert lines[2].endswith("(19 more like it since)") and " → 429 88 " in lines[2]
    assert lines[3].endswith("(18 more like it since)") and "retry too early" in lines[3]


# X's quotas and billing: what the record's `quota` and `cost` tell the audit

CREDITS_DEPLETED = (
    b'{"title":"CreditsDepleted","detail":"Your enrolled account does not have any credits to '
    b'fulfill this request.","type":"https://api.x.com/2/problems/credits","account_id":1}'
)
SEARCH = "https://api.twitter.com/2/tweets/search/recent?query=weather"


def depleted(start, url=SEARCH):
    """X's 402: the account's credits are spent."""
    flow = flow_at("v2-503-service-unavailable", start, url=url)
    flow.response.status_code = 402
    flow.response.content = CREDITS_DEPLETED
    return flow


def test_a_retry_at_the_window_reset_while_the_app_day_cap_binds(proxy):
    window_reset, day_reset = 1665183228, 1665262000  # the sample's headers
    first = proxy.send(flow_at("v2-429-app-24h-cap", window_reset - 300.0))
    assert first.metadata["twerr"]["quota"]["binding"] == "app_24h"
    retry = proxy.send(flow_at("v2-429-app-24h-cap", window_reset + 1.0))
    assert retry.metadata["twerr"]["audit"] == {
        "finding": "wrong-reset",
        "verdict": "waited for the wrong reset",
        "error": "HTTP 429",
        "text": "retried at the 15-minute window's reset (22:53:48Z) but the app 24-hour cap "
        "binds until 2022-10-08 20:46:40Z: wait for x-app-limit-24hour-reset",
        "seconds": day_reset - window_reset - 1.0,
    }
    assert retry.marked == AUDIT_MARKER
    proxy.send(flow_at("v2-429-app-24h-cap", window_reset - 100.0, token="bob"))
    early = proxy.send(flow_at("v2-429-app-24h-cap", window_reset - 50.0, token="bob"))
    assert early.metadata["twerr"]["audit"]["finding"] == "early-retry"  # before every reset


def test_a_usage_cap_retried(proxy):
    proxy.send(flow_at("v2-429-usage-capped", 1000.0))
    again = proxy.send(flow_at("v2-429-usage-capped", 1002.0))
    assert again.metadata["twerr"]["audit"]["finding"] == "quota-retry"
    assert again.metadata["twerr"]["audit"]["text"] == (
        "called again 1.9 s after usage-capped (UsageCapExceeded) and was refused again: the "
        "monthly usage cap holds every request it covers until the next monthly period: stop "
        "calling until then, or move to a larger plan"
    )


def test_spent_credits_retried_then_added(proxy):
    proxy.send(depleted(1000.0))
    other = proxy.send(depleted(1005.0, url="https://api.twitter.com/2/users/me"))
    assert other.metadata["twerr"]["audit"]["finding"] == "quota-retry"
    assert other.metadata["twerr"]["audit"]["text"].startswith(
        "called GET /2/users/me 4.9 s after credits (CreditsDepleted) on "
        "GET /2/tweets/search/recent and was "
        "refused again: no request succeeds until credits are added"
    )
    same = flow_at("v2-success-gzip", 1010.0, url=SEARCH)  # the very request of the first 402
    assert proxy.send(same).metadata["twerr"]["audit"] is None  # credits added: it worked
    assert proxy.send(depleted(1020.0)).metadata["twerr"]["audit"] is None  # forgiven


class Wallet:
    """Stands in for twerr_credits: writes the charge of the flows it bills into the record
    before the audit reads it."""

    def __init__(self, usd):
        self.usd, self.balance = usd, 10.0

    def classified(self, flow, meta):
        if flow.metadata.get("billed"):
            self.balance -= self.usd
            meta["cost"] = {"usd": self.usd, "per": "resource", "resources": 1,
                            "balance": self.balance, "repeat": False}  # fmt: skip


def test_paying_again_and_again_for_an_answer_that_is_lost(proxy):
    classifier = proxy.classifier
    classifier.followers = (Wallet(0.005), *classifier.followers)

    def lost_after_billing(start):
        flow = flow_at("v1.1-130-over-capacity", start)
        flow.metadata["twerr"] = {"injected": {"fault": "130", "phase": "response"}}
        flow.metadata["billed"] = True
        return proxy.send(flow)

    assert lost_after_billing(1000.0).metadata["twerr"]["audit"] is None
    second = lost_after_billing(1010.0)
    assert second.metadata["twerr"]["cost"]["usd"] == 0.005
    assert second.metadata["twerr"]["audit"]["finding"] == "paid-failures"
    assert second.metadata["twerr"]["audit"]["text"] == (
        "paid 2 times for the same request, $0.01 so far, and it failed each time (the answer "
        "was lost after the API billed it): cap the retries of a billed request"
    )
    unbilled = flow_at("v1.1-130-over-capacity", 1020.0)
    unbilled.metadata["twerr"] = {"injected": {"fault": "130", "phase": "response"}}
    assert proxy.send(unbilled).metadata["twerr"]["audit"] is None  # it paid nothing for it
