"""X's 2026 billing errors and the spent monthly usage cap, injected by name with the headers
the real ones carry (tryethernal/ethernal#910-#947 for the 402s, xdevplatform/xdk#25 for the
cap)."""

import json

import pytest
from test_inject import make_flow
from test_inject import record
from test_inject import scenario

import corpus
from twerr.decode import decode
from twerr.inject.forge import forge
from twerr.inject.rules import parse_spec

NOW = 1_767_225_600
SAMPLES = {sample.id: sample for sample in corpus.load().responses}
DAY_CAPS = ("x-app-limit-24hour-remaining", "x-user-limit-24hour-remaining")


@pytest.mark.parametrize("fault", ["credits", "credits-depleted", "usage-capped"])
def test_each_is_a_fault_by_name(fault):
    rule = parse_spec(f":~u /2/:{fault}")
    assert (rule.fault, rule.effective_phase) == (fault, "request")


@pytest.mark.parametrize("fault", ["credits", "credits-depleted", "spend-cap-reached"])
def test_the_billing_errors_carry_the_2026_edge_headers(fault):
    forged = forge(fault, path="/2/tweets", now=NOW)
    headers = dict(forged.headers)
    assert headers["server"] == "cloudflare envoy" and headers["perf"] == "7402827104"
    assert headers["api-version"] == "2.160"
    assert headers["cache-control"] == "no-cache, no-store, max-age=0"
    assert headers["date"] == "Thu, 01 Jan 2026 00:00:00 GMT"  # GMT, not the tsa era's UTC
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert len(headers["x-transaction-id"]) == 16
    assert int(headers["x-rate-limit-remaining"]) > 0  # nothing says a window is spent
    assert not {"content-disposition", "x-access-level"} & set(headers)


@pytest.mark.parametrize(
    "fault,sample_id",
    [("credits", "v2-402-credits"), ("credits-depleted", "v2-402-credits-depleted")],
)
def test_the_402s_are_the_captured_ones(fault, sample_id):
    sample = SAMPLES[sample_id]
    forged = forge(fault, path=sample.path, now=NOW)
    assert (forged.status, forged.reason) == (402, "Payment Required")
    assert json.loads(forged.body) == json.loads(corpus.as_sent_today(sample.body))
    result = decode(forged.status, forged.headers, forged.body, path=sample.path)
    assert (result.category, result.headline.retry) == ("billing", "never")


def test_a_spent_monthly_cap_says_the_window_still_has_requests_and_no_day_is_spent():
    forged = forge("usage-capped", path="/2/tweets", now=NOW)
    headers = dict(forged.headers)
    assert forged.status == 429 and json.loads(forged.body)["title"] == "UsageCapExceeded"
    limit, remaining = int(headers["x-rate-limit-limit"]), int(headers["x-rate-limit-remaining"])
    assert remaining == limit - 1  # xdk#25: 39999 of 40000
    assert int(headers["x-rate-limit-reset"]) > NOW
    assert not set(DAY_CAPS) & set(headers)
    result = decode(forged.status, forged.headers, forged.body, path="/2/tweets")
    assert (result.category, result.headline.resets) == ("rate_limit", "unknown")


@scenario
@pytest.mark.parametrize("fault", ["credits", "credits-depleted", "usage-capped"])
async def test_the_injector_answers_them_without_asking_the_api(proxy_factory, fault):
    proxy = proxy_factory(twerr_inject=[f":~u /2/:{fault}"])
    flow = await proxy.send(make_flow("/2/tweets", method="POST"))
    assert proxy.upstream_calls == 0 and record(flow)["fault"] == fault
    meta = flow.metadata["twerr"]
    assert meta["errors"][0]["type"] == f"https://api.x.com/2/problems/{fault}"
    assert meta["category"] == ("rate_limit" if fault == "usage-capped" else "billing")
