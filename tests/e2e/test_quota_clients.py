"""X's quotas through a real mitmdump, as tweepy meets them: X's documented limits for an
endpoint with a 15-minute window and 24-hour caps, lived through in seconds under
twerr_time_scale, and a wallet spent down to X's 402."""

import json
import time

import pytest
import tweepy
from mitmproxy import io as mitmio

pytestmark = pytest.mark.e2e

TRENDS = "/2/users/personalized_trends"  # X: user 10/15min and 100/24h; app 200/24h
SCALE = 1800  # a 15-minute window lasts 0.5 s, a day 48 s: tweepy spends 10 windows in ~20 s


def saved(proxy, flows):
    proxy.stop()
    with flows.open("rb") as file:
        return list(mitmio.FlowReader(file).stream())


def test_tweepy_waiting_on_the_window_while_the_user_day_cap_binds(session, tmp_path):
    flows, report = tmp_path / "flows.mitm", tmp_path / "report.json"
    options = ("-w", str(flows), "--set", f"twerr_report={report}")
    options += ("--set", f"twerr_time_scale={SCALE}")
    s = session(f":~u {TRENDS}:http429:ratelimit=x", options=options)
    client = s.v2(wait_on_rate_limit=True)
    started = time.monotonic()
    for _ in range(101):  # one more than the user's day: tweepy waits until it has an answer
        client.request("GET", TRENDS, user_auth=True)
    took = time.monotonic() - started
    assert len([r for r in s.api.requests if r[1].startswith(TRENDS)]) == 101  # X answered all

    everything = saved(s.proxy, flows)
    metas = [flow.metadata["twerr"] for flow in everything]
    answered = [flow for flow in everything if flow.response.status_code == 200]
    refused = [flow for flow in everything if flow.response.status_code == 429]
    assert len(answered) == 101
    first = answered[0].response.headers
    assert (first["x-rate-limit-limit"], first["x-user-limit-24hour-limit"]) == ("10", "100")
    assert first["x-app-limit-24hour-limit"] == "200"  # the app's cap, shared by its users
    day_refusals = [m for m in metas if m.get("quota") and m["quota"]["binding"] == "user_24h"]
    window_refusals = [m for m in metas if m.get("quota") and m["quota"]["binding"] == "window"]
    assert len(window_refusals) >= 9  # tweepy waited out each 15-minute window: right
    assert day_refusals, "the 101st request met the user's spent 24-hour cap"
    for meta in day_refusals:  # each says the window's reset cannot help
        assert "will fail" in meta["quota"]["summary"]
    # the trap: a fresh window with requests left, and the day still spent
    assert any("the 15-minute window has 10 left" in m["quota"]["summary"] for m in day_refusals)
    # tweepy slept on x-rate-limit-reset, the window's, so it came back before the day ended
    findings = [m["audit"]["finding"] for m in metas if m.get("audit")]
    assert "wrong-reset" in findings
    assert len(refused) == len(window_refusals) + len(day_refusals)
    data = json.loads(report.read_text())
    bindings = {row["binding"] for row in data["quotas"]}
    assert {"window", "user_24h"} <= bindings
    assert took < 48 + 10  # a day of X's limits in under a minute of real time


def test_a_wallet_spent_to_xs_402(session, tmp_path):
    flows, report = tmp_path / "flows.mitm", tmp_path / "report.json"
    options = ("-w", str(flows), "--set", f"twerr_report={report}", "--set", "twerr_credits=0.05")
    s = session(options=options)
    client = s.v2()
    for n in range(4):  # $0.015 each: 0.05, 0.035, 0.02, 0.005, then -0.01
        client.create_tweet(text=f"post {n}")
    with pytest.raises(tweepy.HTTPException) as info:
        client.create_tweet(text="one too many")
    assert info.value.response.status_code == 402
    body = info.value.response.json()
    assert body["title"] == "CreditsDepleted" and body["type"].endswith("/2/problems/credits")
    assert len(s.api.requests) == 4  # the 402 came from the wallet, not the API
    everything = saved(s.proxy, flows)
    costs = [f.metadata["twerr"].get("cost") for f in everything]
    assert [c["usd"] for c in costs[:4]] == [0.015] * 4
    assert costs[3]["balance"] == pytest.approx(-0.01)
    refusal = everything[4].metadata["twerr"]
    assert refusal["quota"]["retry_when"] == "credits-added"
    assert refusal["category"] == "billing"
    data = json.loads(report.read_text())
    assert data["spend"]["usd"] == pytest.approx(0.06)
    assert data["spend"]["endpoints"][0]["endpoint"] == "POST /2/tweets"
    assert "402" in s.proxy.log.read_text()
