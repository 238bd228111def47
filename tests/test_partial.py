"""Partial errors forged from the API's own answer: a lookup's found items, less the ones a
fault reports (resource-not-found, not-authorized-for-resource), the rest of the answer kept."""

import base64
import gzip
import json

import pytest
from mitmproxy import http
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpResponseHook
from test_inject import make_flow
from test_inject import record
from test_inject import scenario

from twerr.catalog import load_catalog
from twerr.decode import decode
from twerr.inject.partial import rewrite

NOT_FOUND = load_catalog().problem_by_slug("resource-not-found")
NOT_AUTHORIZED = load_catalog().problem_by_slug("not-authorized-for-resource")
TWEETS = "/2/tweets?ids=1,2,3&expansions=author_id"


def tweet(ident: str, author: str) -> dict:
    return {"id": ident, "text": f"tweet {ident}", "author_id": author}


LOOKUP = {
    "data": [tweet("1", "10"), tweet("2", "20"), tweet("3", "10")],
    "includes": {"users": [{"id": "10", "username": "ten"}, {"id": "20", "username": "twenty"}]},
}


def rewritten(body: object, path: str = TWEETS, seed: int = 1, problem=NOT_FOUND) -> dict:
    new = rewrite(problem, json.dumps(body).encode(), path, seed)
    assert new is not None
    return json.loads(new)


def missing(answer: dict) -> list[str]:
    return [error["value"] for error in answer["errors"]]


def test_one_requested_tweet_moves_from_data_to_errors_as_the_api_reports_it():
    answer = rewritten(LOOKUP)
    (gone,) = missing(answer)
    assert [t["id"] for t in answer["data"]] == [i for i in ("1", "2", "3") if i != gone]
    assert answer["errors"] == [
        {
            "value": gone,
            "detail": f"Could not find tweet with ids: [{gone}].",
            "title": "Not Found Error",
            "resource_type": "tweet",
            "parameter": "ids",
            "resource_id": gone,
            "type": "https://api.x.com/2/problems/resource-not-found",
        }
    ]


def test_the_choice_is_the_seeds():
    assert rewritten(LOOKUP, seed=7) == rewritten(LOOKUP, seed=7)
    choices = {missing(rewritten(LOOKUP, seed=seed))[0] for seed in range(40)}
    assert choices == {"1", "2", "3"}


def test_an_author_only_the_removed_tweet_named_leaves_the_includes():
    for seed in range(40):
        answer = rewritten(LOOKUP, seed=seed)
        authors = {t["author_id"] for t in answer["data"]}
        assert {u["id"] for u in answer["includes"]["users"]} == authors


def test_a_single_lookup_keeps_only_errors_and_its_meta_counts_what_is_left():
    single = rewritten({"data": tweet("5", "10")}, path="/2/tweets/5")
    assert "data" not in single and missing(single) == ["5"]
    assert single["errors"][0]["parameter"] == "id"
    counted = rewritten({**LOOKUP, "meta": {"result_count": 3}})
    assert counted["meta"] == {"result_count": 2}


def test_errors_the_api_already_reported_are_kept_first():
    earlier = {"value": "9", "title": "Not Found Error", "type": "x"}
    answer = rewritten({**LOOKUP, "errors": [earlier]}, path="/2/tweets?ids=1,2,3,9")
    assert answer["errors"][0] == earlier and len(answer["errors"]) == 2


def test_users_by_username_and_the_authorization_form():
    users = {"data": [{"id": "10", "username": "Ten"}, {"id": "20", "username": "twenty"}]}
    answer = rewritten(users, path="/2/users/by?usernames=ten,twenty", problem=NOT_AUTHORIZED)
    (item,) = answer["errors"]
    assert item["parameter"] == "usernames" and item["value"] in ("ten", "twenty")
    assert item["detail"] == (
        f"Sorry, you are not authorized to see the user with usernames: [{item['value']}]."
    )
    assert (item["section"], item["title"]) == ("data", "Authorization Error")
    tweets = rewritten(LOOKUP, problem=NOT_AUTHORIZED)
    assert tweets["errors"][0]["detail"].startswith(
        "Sorry, you are not authorized to see the Tweet"
    )


@pytest.mark.parametrize(
    "body,path",
    [
        (b"not json", TWEETS),
        (b'{"errors":[{"title":"x"}]}', TWEETS),  # no data
        (b'{"data":[{"id":"8"}]}', TWEETS),  # none of the ids asked for
        (b'{"data":{"id":"1"}}', "/2/tweets/search/recent?query=x"),  # not a lookup by id
        (b'[{"id":"1"}]', TWEETS),
        (b'{"data":"1"}', "/2/tweets/1"),
    ],
)
def test_an_answer_that_is_not_a_lookup_with_data_is_left_alone(body, path):
    assert rewrite(NOT_FOUND, body, path, 1) is None


async def answered(proxy, flow, body: bytes, encoding: str = "") -> http.HTTPFlow:
    addons = proxy.tctx.master.addons
    await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await addons.handle_lifecycle(HttpRequestHook(flow))
    assert flow.response is None  # the request goes to the API
    headers = {"content-type": "application/json; charset=utf-8"}
    flow.response = http.Response.make(200, body, headers)
    if encoding:
        flow.response.encode(encoding)
    await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
    await addons.handle_lifecycle(HttpResponseHook(flow))
    return flow


@scenario
async def test_the_injector_asks_the_api_then_moves_an_item(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u /2/tweets:resource-not-found"])
    flow = await answered(
        proxy, make_flow(TWEETS, method="GET"), json.dumps(LOOKUP).encode(), "gzip"
    )
    answer = json.loads(flow.response.get_content())
    assert flow.response.headers["content-encoding"] == "gzip"
    assert len(answer["data"]) == 2 and len(answer["errors"]) == 1
    injected = record(flow)
    assert (injected["fault"], injected["phase"]) == ("resource-not-found", "response")
    kept = gzip.decompress(base64.b64decode(injected["original"]["body_base64"]))
    assert json.loads(kept) == LOOKUP  # the API's own answer, kept
    result = decode(200, flow.response.headers.fields, flow.response.raw_content, path=TWEETS)
    assert result.shape == "v2-partial" and result.errors[0].type.endswith("resource-not-found")


@scenario
async def test_an_answer_that_is_no_lookup_passes_untouched_and_the_rule_keeps_its_count(
    proxy_factory,
):
    proxy = proxy_factory(twerr_inject=[":~u /2/tweets:resource-not-found:times=1"])
    body = b'{"data":[{"id":"8","text":"hi"}]}'
    flow = await answered(proxy, make_flow(TWEETS, method="GET"), body)
    assert flow.response.content == body and flow.metadata["twerr"]["injected"] is None
    again = await answered(proxy, make_flow(TWEETS, method="GET"), json.dumps(LOOKUP).encode())
    assert record(again)["fault"] == "resource-not-found"


@scenario
async def test_phase_request_still_answers_without_asking_the_api(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u /2/tweets:resource-not-found:phase=request"])
    flow = await proxy.send(make_flow("/2/tweets/7", method="GET"))
    assert proxy.upstream_calls == 0
    assert json.loads(flow.response.content)["errors"][0]["value"] == "7"
