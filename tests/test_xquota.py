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
    injector_clock.set_scale(1)


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
    injector_clock.set_scale(1)


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
