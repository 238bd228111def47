"""X's documented limits (ratelimit=x), compressed time (twerr_time_scale) and the emulated
wallet (twerr_credits), through mitmproxy's addon machinery with the classifier behind."""

import json
import logging

import pytest
from mitmproxy import exceptions
from test_inject import BEARER
from test_inject import make_flow
from test_inject import scenario

from twerr.catalog import load_limits
from twerr.catalog import load_prices
from twerr.inject import clock as injector_clock
from twerr.inject import xlimits

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TRENDS = "/2/users/personalized_trends"  # app 200/15min + 200/24h; user 10/15min + 100/24h


def oauth1(consumer="app-key", token="user-token"):
    return (
        f'OAuth oauth_consumer_key="{consumer}", oauth_nonce="n{token}", '
        f'oauth_signature="s", oauth_token="{token}", oauth_version="1.0"'
    )


@pytest.fixture
def clock(monkeypatch):
    now = [START]
    monkeypatch.setattr(injector_clock, "now", lambda: now[0])
    yield now
    injector_clock.reset()


def limit_headers(flow) -> dict[str, str]:
    return {k: v for k, v in flow.response.headers.items() if "limit" in k.lower()}


@scenario
async def test_a_user_token_spends_its_window_its_day_and_the_apps_shared_day(proxy_factory, clock):
    proxy = proxy_factory(twerr_inject=[f":~u {TRENDS}:http429:ratelimit=x"])

    async def call(token="alice"):
        return await proxy.send(make_flow(TRENDS, "GET", authorization=oauth1(token=token)))

    flows = [await call() for _ in range(11)]
    assert [f.response.status_code for f in flows] == [200] * 10 + [429]
    assert limit_headers(flows[0]) == {
        "x-rate-limit-limit": "10",
        "x-rate-limit-remaining": "9",
        "x-rate-limit-reset": str(int(START) + 900),
        "x-user-limit-24hour-limit": "100",
        "x-user-limit-24hour-remaining": "99",
        "x-user-limit-24hour-reset": str(int(START) + 86_400),
        "x-app-limit-24hour-limit": "200",
        "x-app-limit-24hour-remaining": "199",
        "x-app-limit-24hour-reset": str(int(START) + 86_400),
    }
    refused = flows[-1]
    assert limit_headers(refused)["x-rate-limit-remaining"] == "0"
    assert limit_headers(refused)["x-user-limit-24hour-remaining"] == "90"  # refused: not counted
    meta = refused.metadata["twerr"]
    assert meta["quota"]["binding"] == "window"
    assert meta["injected"]["limits"]["user_24h"]["remaining"] == 90
    assert proxy.upstream_calls == 10

    for _ in range(9):  # nine more windows: the user's 24-hour cap is spent
        clock[0] += 900
        assert {(await call()).response.status_code for _ in range(10)} == {200}
    clock[0] += 900
    capped = await call()
    assert capped.response.status_code == 429
    headers = limit_headers(capped)
    assert (headers["x-rate-limit-remaining"], headers["x-user-limit-24hour-remaining"]) == (
        "10",
        "0",
    )
    quota = capped.metadata["twerr"]["quota"]
    assert quota["binding"] == "user_24h" and quota["retry_at"] == int(START) + 86_400
    assert quota["summary"].endswith(
        "the 15-minute window has 10 left: retrying at its reset will fail"
    )
    other = await call("bob")  # another user: its own window and day, the app's day shared
    assert other.response.status_code == 200
    assert limit_headers(other)["x-app-limit-24hour-remaining"] == str(200 - 101)


@scenario
async def test_an_app_only_token_spends_the_apps_limits(proxy_factory, clock):
    proxy = proxy_factory(twerr_inject=[":~u /2/tweets:88:ratelimit=x"])
    app = await proxy.send(make_flow("/2/tweets/20", "GET"))  # make_flow sends an app bearer
    user = await proxy.send(make_flow("/2/tweets/20", "GET", authorization=oauth1()))
    assert limit_headers(app)["x-rate-limit-limit"] == "450"  # X's table: 450 per app
    assert limit_headers(user)["x-rate-limit-limit"] == "900"  # and 900 per user
    assert "x-app-limit-24hour-limit" not in limit_headers(app)  # no 24-hour cap documented


@scenario
async def test_an_endpoint_x_documents_no_limit_for_passes_untouched(proxy_factory, clock, caplog):
    proxy = proxy_factory(twerr_inject=[":~all:88:ratelimit=x"])
    caplog.set_level(logging.WARNING)
    v11 = await proxy.send(make_flow("/1.1/statuses/update.json", "POST"))
    me = await proxy.send(make_flow("/2/users/me", "GET"))  # user tokens only; this is an app's
    for flow in (v11, me):
        assert flow.response.status_code == 200 and not limit_headers(flow)
        assert flow.metadata["twerr"]["injected"] is None
    assert "X documents no limit on POST /1.1/statuses/update.json" in caplog.text
    assert "X documents no limit for an app-only token on GET /2/users/me" in caplog.text


@scenario
async def test_time_scale_compresses_windows_and_days_into_real_seconds(proxy_factory, clock):
    proxy = proxy_factory(twerr_inject=[f":~u {TRENDS}:http429:ratelimit=x"], twerr_time_scale=900)
    flow = await proxy.send(make_flow(TRENDS, "GET", authorization=oauth1()))
    headers = limit_headers(flow)
    assert headers["x-rate-limit-reset"] == str(int(START) + 1)  # 15 minutes in one second
    assert headers["x-user-limit-24hour-reset"] == str(int(START) + 96)  # a day in 96 s
    for _ in range(9):
        await proxy.send(make_flow(TRENDS, "GET", authorization=oauth1()))
    assert (
        await proxy.send(make_flow(TRENDS, "GET", authorization=oauth1()))
    ).response.status_code == 429
    clock[0] += 1  # the reset it was told
    assert (
        await proxy.send(make_flow(TRENDS, "GET", authorization=oauth1()))
    ).response.status_code == 200


@scenario
async def test_time_scale_also_compresses_forged_resets_and_plain_windows(proxy_factory, clock):
    proxy = proxy_factory(
        twerr_inject=[":~u timeline:88:ratelimit=1/900", ":~u update:88"], twerr_time_scale=900
    )
    path = "/1.1/statuses/user_timeline.json"
    await proxy.send(make_flow(path, "GET"))
    refused = await proxy.send(make_flow(path, "GET"))
    assert refused.response.headers["x-rate-limit-reset"] == str(int(START) + 1)
    forged = await proxy.send(make_flow())
    assert forged.response.headers["x-rate-limit-reset"] == str(int(START) + 1)


@pytest.mark.parametrize(
    "options,problem",
    [
        ({"twerr_time_scale": 0}, "twerr_time_scale must be from 1 to 1000000, not 0"),
        ({"twerr_credits": "five"}, "twerr_credits must be US dollars, e.g. 5 or 0.25, not 'five'"),
        ({"twerr_credits": "-1"}, "twerr_credits must be from 0 to 1e9 dollars, not '-1'"),
    ],
)
def test_bad_quota_options_are_refused_and_the_old_ones_stay(proxy_factory, options, problem):
    proxy = proxy_factory(twerr_time_scale=60, twerr_credits="5")
    with pytest.raises(exceptions.OptionsError, match=problem):
        proxy.configure(**options)
    assert injector_clock.scale() == 60
    assert proxy.injector.billing.wallet.balance == 5
    injector_clock.reset()


def posts(*ids: str) -> bytes:
    return json.dumps({"data": [{"id": i, "text": f"post {i}"} for i in ids]}).encode()


@scenario
async def test_the_wallet_charges_like_x_then_answers_402(proxy_factory, clock):
    proxy = proxy_factory(twerr_credits="0.02")
    lookup = "/2/tweets?ids=1,2,3"

    three = posts("1", "2", "3")

    async def read(path=lookup, body=three, status=200):
        return await proxy.send(make_flow(path, "GET"), status=status, body=body)

    first = await read()
    assert first.metadata["twerr"]["cost"] == {
        "usd": 0.015, "per": "resource", "resources": 3, "balance": 0.005, "repeat": False,
    }  # fmt: skip
    again = await read()  # the same Posts the same UTC day: charged once
    assert again.metadata["twerr"]["cost"]["usd"] == 0 and again.metadata["twerr"]["cost"]["repeat"]
    failed = await read(body=b'{"title":"Service Unavailable"}', status=503)
    assert "cost" not in failed.metadata["twerr"] or failed.metadata["twerr"]["cost"] is None
    clock[0] += 86_400  # a new UTC day: the same Posts are charged again
    spent = await read()
    assert spent.metadata["twerr"]["cost"]["balance"] == pytest.approx(-0.01)
    upstream = proxy.upstream_calls
    refused = await read()
    assert refused.response.status_code == 402 and proxy.upstream_calls == upstream
    body = json.loads(refused.response.content)
    assert (body["title"], body["type"].rsplit("/", 1)[-1]) == ("CreditsDepleted", "credits")
    meta = refused.metadata["twerr"]
    assert (meta["category"], meta["quota"]["retry_when"]) == ("billing", "credits-added")
    assert meta["injected"]["rule"] == "twerr_credits"
    v11 = await proxy.send(make_flow("/1.1/statuses/update.json"))  # not the pay-per-use API
    assert v11.response.status_code == 200
    proxy.configure(twerr_credits="1")  # credits added
    assert (await read()).response.status_code == 200
    report = proxy.twerr.parts.reporter.report.to_dict()
    assert report["spend"]["endpoints"][0]["endpoint"] == "GET /2/tweets"
    assert report["spend"]["usd"] == pytest.approx(0.03 + 0.015)


@scenario
async def test_a_write_is_charged_per_request_and_a_post_with_a_link_costs_more(
    proxy_factory, clock
):
    proxy = proxy_factory(twerr_credits="5")
    created = b'{"data":{"id":"1","text":"hi"}}'
    plain = make_flow("/2/tweets", "POST")
    plain.request.content = b'{"text":"hi"}'
    linked = make_flow("/2/tweets", "POST")
    linked.request.content = b'{"text":"see https://example.com"}'
    costs = [
        (await proxy.send(flow, status=201, body=created)).metadata["twerr"]["cost"]["usd"]
        for flow in (plain, linked)
    ]
    price = load_prices().find("POST", "/2/tweets")
    assert costs == [price.usd, next(v.usd for v in price.variants if v.when == "with_url")]


def test_who_spends_the_limits():
    app = xlimits.caller(f"Bearer {BEARER}")
    user2 = xlimits.caller("Bearer bWVPQ0JkUzB0a2xvNzZfb3V1c2VyLXRva2Vu")
    user1 = xlimits.caller(oauth1())
    assert (app.user_context, user2.user_context, user1.user_context) == (False, True, True)
    assert xlimits.caller(oauth1(token="b")).app == user1.app != app.app
    assert xlimits.caller(oauth1(token="b")).user != user1.user
    assert xlimits.caller(None).app == "anonymous"
    for who in (app, user1, user2):  # hashes, never the credential
        assert BEARER not in repr(who) and "user-token" not in repr(who)


def test_the_limits_each_kind_of_token_spends():
    dm = load_limits().find("POST", "/2/dm_conversations/with/42/messages")
    user = xlimits.applicable(dm, xlimits.caller(oauth1()))
    app = xlimits.applicable(dm, xlimits.caller(f"Bearer {BEARER}"))
    assert [(name, limit) for name, _, limit in user] == [
        ("window", 15),
        ("user_24h", 1440),
        ("app_24h", 1440),
    ]
    assert [(name, limit) for name, _, limit in app] == [("app_24h", 1440)]


@scenario
async def test_a_refused_credits_value_leaves_a_spent_wallet_spent(proxy_factory, clock):
    proxy = proxy_factory(twerr_credits="0.01")
    await proxy.send(make_flow("/2/tweets?ids=1,2", "GET"), body=posts("1", "2"))
    with pytest.raises(exceptions.OptionsError):  # mitmproxy re-applies the old value
        proxy.configure(twerr_credits="lots")
    assert (await proxy.send(make_flow("/2/tweets/3", "GET"))).response.status_code == 402
    token = await proxy.send(make_flow("/2/oauth2/token", "POST"))  # not a paid request
    assert token.response.status_code == 200


@scenario
async def test_x_limits_send_only_the_headers_x_sends_for_them(proxy_factory, clock):
    proxy = proxy_factory(twerr_inject=[":~u /2/:http429:ratelimit=x"])
    search = "/2/tweets/search/all?query=x"  # a user token: 1 a second, no other limit
    first = await proxy.send(make_flow(search, "GET", authorization=oauth1()))
    second = await proxy.send(make_flow(search, "GET", authorization=oauth1()))
    assert first.response.status_code == 200 and second.response.status_code == 429
    assert limit_headers(first) == limit_headers(second) == {}
    assert second.metadata["twerr"]["quota"]["binding"] == "unseen"
    dm = "/2/dm_conversations/with/42/messages"  # an app token: 1,440 a day, nothing else
    flows = [await proxy.send(make_flow(dm, "POST")) for _ in range(1441)]
    refused = flows[-1]
    assert refused.response.status_code == 429
    assert limit_headers(refused) == {
        "x-app-limit-24hour-limit": "1440",
        "x-app-limit-24hour-remaining": "0",
        "x-app-limit-24hour-reset": str(int(START) + 86_400),
    }
    assert refused.metadata["twerr"]["quota"]["binding"] == "app_24h"


@scenario
async def test_a_replayed_flow_forgets_its_earlier_charge(proxy_factory, clock):
    proxy = proxy_factory(twerr_credits="5")
    flow = await proxy.send(make_flow("/2/tweets?ids=1,2,3", "GET"), body=posts("1", "2", "3"))
    assert flow.metadata["twerr"]["cost"]["usd"] == 0.015
    flow.response = None  # replayed: the same flow object goes through again, and fails
    again = await proxy.send(flow, status=503, body=b'{"title":"Service Unavailable"}')
    assert again.metadata["twerr"]["cost"] is None
    assert proxy.twerr.parts.reporter.report.to_dict()["spend"]["usd"] == 0.015


@scenario
async def test_a_faster_clock_does_not_move_the_days_already_past(proxy_factory, clock):
    proxy = proxy_factory(twerr_credits="5")
    three = posts("1", "2", "3")
    await proxy.send(make_flow("/2/tweets?ids=1,2,3", "GET"), body=three)
    clock[0] += 60
    proxy.configure(twerr_time_scale=1800)  # from now on an emulated day lasts 48 s
    again = await proxy.send(make_flow("/2/tweets?ids=1,2,3", "GET"), body=three)
    assert again.metadata["twerr"]["cost"]["usd"] == 0  # the same UTC day: charged once
    clock[0] += 48
    later = await proxy.send(make_flow("/2/tweets?ids=1,2,3", "GET"), body=three)
    assert later.metadata["twerr"]["cost"]["usd"] == 0.015  # the next day


@scenario
async def test_a_forged_day_cap_keeps_its_window_on_the_faster_clock(proxy_factory, clock):
    proxy = proxy_factory(twerr_inject=[":~u /2/:429-day-cap"], twerr_time_scale=1800)
    flow = await proxy.send(make_flow("/2/users/1/following", "POST"))
    headers = limit_headers(flow)
    assert int(headers["x-rate-limit-reset"]) == int(START) + 1  # 900 s in half a second
    assert int(headers["x-app-limit-24hour-reset"]) == int(START) + 48
    assert flow.metadata["twerr"]["quota"]["summary"].endswith(
        "the 15-minute window has 899 left: retrying at its reset will fail"
    )


@pytest.mark.parametrize(
    "cost",
    [
        {"usd": float("nan"), "per": "resource", "resources": 1, "balance": 1.0, "repeat": False},
        {"usd": "0.5", "per": "resource", "resources": 1, "balance": 1.0, "repeat": False},
        {"usd": True, "per": "request", "resources": 0, "balance": 1.0, "repeat": False},
        {"usd": 0.5},
        "0.5",
    ],
)
def test_an_odd_cost_in_a_flow_file_is_not_kept(cost):
    from mitmproxy.test import tflow

    from twerr import record

    flow = tflow.tflow(resp=True)
    flow.metadata["twerr"] = {"cost": cost}
    assert record.stored(flow)["cost"] is None
