import json

import pytest

import corpus
from twerr.catalog import load_catalog
from twerr.decode import decode
from twerr.inject.forge import Window
from twerr.inject.forge import fault_kind
from twerr.inject.forge import forge

CATALOG = load_catalog()
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
V1_PATH = "/1.1/statuses/update.json"
V2_PATH = "/2/tweets"
SAMPLES = {sample.id: sample for sample in corpus.load().responses}
CODES = [entry.code for entry in CATALOG.codes]
SLUGS = [problem.slug for problem in CATALOG.problems]
SHAPES = [shape.name for shape in CATALOG.shapes]
STATUSES = [entry.status for entry in CATALOG.statuses if entry.status >= 400] + [418, 502]


def headers_of(forged) -> dict[str, str]:
    names = [name for name, _ in forged.headers]
    assert len(names) == len(set(names)), "a header given twice"
    return dict(forged.headers)


def decoded(fault: str, path: str, **kwargs):
    forged = forge(fault, path=path, now=NOW, **kwargs)
    return forged, decode(forged.status, forged.headers, forged.body, path=path)


@pytest.mark.parametrize("code", CODES)
def test_every_code_is_forged_in_v1_shape_and_decodes_back_to_itself(code):
    entry = CATALOG.code(code)
    forged, result = decoded(str(code), V1_PATH)
    assert forged.status == entry.http_status
    assert result.shape == "v1.1-errors"
    assert [error.code for error in result.errors] == [code]
    body = json.loads(forged.body)
    message = body["errors"][0]["message"]
    assert body == {"errors": [{"code": code, "message": message, **entry.extra}]}
    assert "<" not in body["errors"][0]["message"] or code == 415  # templates filled in
    headers = headers_of(forged)
    assert headers["content-type"] == "application/json;charset=utf-8"
    assert headers["date"] == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert len(headers["x-transaction"]) == 16 and "x-transaction-id" not in headers
    assert headers["status"] == f"{forged.status} {forged.reason}"


@pytest.mark.parametrize("code", CODES)
def test_every_code_on_a_v2_endpoint_is_a_problem_with_the_codes_status(code):
    entry = CATALOG.code(code)
    forged, result = decoded(str(code), V2_PATH)
    assert forged.status == entry.http_status
    assert result.shape == "v2-problem" and result.api == "v2"
    assert result.category == CATALOG.status(entry.http_status).category or code in (187,)
    headers = headers_of(forged)
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["date"] == "Thu, 01 Jan 2026 00:00:00 UTC"
    assert len(headers["x-transaction-id"]) == 16 and "x-transaction" not in headers
    assert "status" not in headers and headers["api-version"].startswith("2.")


@pytest.mark.parametrize("slug", SLUGS)
def test_every_problem_type_decodes_back_to_itself(slug):
    problem = CATALOG.problem_by_slug(slug)
    forged, result = decoded(slug, "/2/tweets/1460323737035677698")
    generic = slug == "about:blank"  # forged as the plain 403 it is seen with
    assert forged.status == (403 if generic else problem.http_status or 200)
    assert result.errors, result
    expected = "about:blank" if slug == "about:blank" else f"https://api.x.com/2/problems/{slug}"
    assert result.errors[0].type == expected
    assert result.category == ("permission" if generic else problem.category)
    body = json.loads(forged.body)
    item = body["errors"][0] if problem.http_status is None and not generic else body
    # The official Java SDK refuses a problem without its required fields.
    assert {"title", "type"} <= set(item)
    assert ("detail" in item) is problem.detail_in_body  # duplicate-rules has none
    for field in problem.fields:
        if "." not in field and field not in ("field", "details", "id", "value", "section"):
            assert field in item or field in ("parameter", "resource_id", "resource_type"), field


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("path", [V1_PATH, V2_PATH])
def test_every_status(status, path):
    forged, result = decoded(f"http{status}", path)
    assert forged.status == status == result.status
    assert result.category != "success"


@pytest.mark.parametrize("name", SHAPES)
def test_every_odd_shape_keeps_the_status_of_the_code_it_stands_for(name):
    shape = CATALOG.shape(name)
    forged, result = decoded(name, V1_PATH)
    assert forged.status == CATALOG.code(shape.like).http_status == result.status
    assert result.category != "success"


# Forged next to real: the bytes clients parse are the same as in the reference corpus.
@pytest.mark.parametrize(
    "fault,sample_id",
    [
        ("187", "v1.1-187-duplicate"),
        ("326", "v1.1-326-locked"),
        ("130", "v1.1-130-over-capacity"),
        ("http503", "v2-503-service-unavailable"),
        ("http401", "v2-401-unauthorized"),
        ("187", "v2-403-duplicate-content"),
        ("usage-capped", "v2-429-usage-capped"),
        ("client-forbidden", "v2-403-client-forbidden"),
        ("unsupported-authentication", "v2-403-unsupported-authentication"),
        ("429-empty", "v1.1-429-empty"),
        ("legacy-error", "v1.1-single-error-string"),
        ("oauth-xml", "oauth-xml-415"),
        ("html-503", "html-over-capacity"),
        ("errors-strings", "v2-media-500-strings"),
        ("99", "v1.1-99-oauth2-token"),
        ("http420", "stream-420-text"),
        ("streaming-connection", "v2-429-streaming-connection"),
        ("not-authorized-for-resource", "v2-200-not-authorized"),
        ("invalid-request", "v2-400-invalid-request"),
        ("credits", "v2-402-credits"),
        ("credits-depleted", "v2-402-credits-depleted"),
    ],
)
def test_forged_bodies_equal_the_real_ones(fault, sample_id):
    sample = SAMPLES[sample_id]
    forged = forge(fault, path=sample.path, now=NOW)
    assert forged.status == sample.status
    real = corpus.as_sent_today(sample.body).encode()
    if real.startswith((b"{", b"[")):
        assert json.loads(forged.body) == _public(json.loads(real.replace(b"\\/", b"/")))
    else:
        assert forged.body == real
    real_type = dict(sample.response_headers(corpus.load().presets)).get("content-type")
    assert headers_of(forged).get("content-type") == real_type


LOGIN_FLOW_KEYS = ("sub_error_code", "bounce_location")  # 326's capture: not the public API


def _public(body):
    """The body without the keys of the login flow that one capture (326) carries."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        errors = [
            {k: v for k, v in e.items() if k not in LOGIN_FLOW_KEYS} if isinstance(e, dict) else e
            for e in body["errors"]
        ]
        return {**body, "errors": errors}
    return body


def test_resource_not_found_names_the_id_asked_for():
    forged, result = decoded("resource-not-found", "/2/users?ids=2244994945,783214")
    item = json.loads(forged.body)["errors"][0]
    assert forged.status == 200 and result.shape == "v2-errors"
    assert item["detail"] == "Could not find user with ids: [2244994945]."
    assert (item["parameter"], item["value"], item["resource_type"]) == (
        "ids",
        "2244994945",
        "user",
    )


def test_a_429_carries_the_window_and_a_reset_in_the_future():
    forged, result = decoded("88", V1_PATH)
    headers = headers_of(forged)
    assert (headers["x-rate-limit-remaining"], headers["x-rate-limit-reset"]) == (
        "0",
        str(NOW + 900),
    )
    assert result.retry_at == NOW + 900
    forged = forge("88", path=V1_PATH, now=NOW, reset_after=5)
    assert headers_of(forged)["x-rate-limit-reset"] == str(NOW + 5)
    forged = forge("88", path=V1_PATH, now=NOW, window=Window(15, 0, NOW + 42))
    assert headers_of(forged)["x-rate-limit-limit"] == "15"
    assert headers_of(forged)["x-rate-limit-reset"] == str(NOW + 42)


def test_the_odd_429s():
    no_reset = headers_of(forge("429-no-reset", path=V2_PATH, now=NOW))
    assert "x-rate-limit-reset" not in no_reset and no_reset["x-rate-limit-remaining"] == "0"

    forged, result = decoded("429-day-cap", V2_PATH)
    day_cap = headers_of(forged)
    assert int(day_cap["x-rate-limit-remaining"]) > 0
    assert day_cap["x-app-limit-24hour-remaining"] == "0"
    assert result.retry_at == int(day_cap["x-app-limit-24hour-reset"]) == NOW + 86400

    empty = forge("429-empty", path=V1_PATH, now=NOW)
    assert empty.body == b"" and "content-type" not in headers_of(empty)
    assert headers_of(empty)["x-rate-limit-remaining"] == "0"

    assert forge("json-array", path=V1_PATH, now=NOW).body == b'["Status is a duplicate."]'
    assert json.loads(forge("errors-string", path=V1_PATH, now=NOW).body) == {
        "errors": "Internal error"
    }


def test_errors_other_than_429_carry_a_window_with_requests_left():
    headers = headers_of(forge("187", path=V1_PATH, now=NOW))
    assert int(headers["x-rate-limit-remaining"]) > 0
    assert "x-rate-limit-limit" not in headers_of(forge("html-503", path=V1_PATH, now=NOW))


def test_the_same_token_gives_the_same_bytes_and_another_token_other_ids():
    one = forge("187", path=V1_PATH, now=NOW, token="a")
    assert forge("187", path=V1_PATH, now=NOW, token="a") == one
    other = forge("187", path=V1_PATH, now=NOW, token="b")
    assert headers_of(other)["x-transaction"] != headers_of(one)["x-transaction"]
    assert other.body == one.body


@pytest.mark.parametrize("fault", ["999999", "http99", "http600", "nonsense", "", "reset"])
def test_unknown_faults_are_refused(fault):
    with pytest.raises(ValueError, match="unknown"):
        fault_kind(fault)


@pytest.mark.parametrize(
    "code,text",
    [
        (38, "status parameter is missing."),
        (120, "Account update failed: value is too long (maximum is 160 characters)."),
        (151, "There was an error sending your message: You cannot send messages to users"),
        (360, "webhook_id: [-1] is not greater than or equal to 0."),
        (368, "to_date: [209901010000] is not in the past."),
    ],
)
def test_message_templates_are_filled(code, text):
    message = json.loads(forge(str(code), path=V1_PATH, now=NOW).body)["errors"][0]["message"]
    assert message.startswith(text)


def test_lookups_by_username_name_the_username():
    body = json.loads(forge("resource-not-found", path="/2/users/by/username/jack", now=NOW).body)
    item = body["errors"][0]
    assert (item["parameter"], item["value"], item["resource_type"]) == ("username", "jack", "user")


def test_the_legacy_error_escapes_the_path_as_the_api_does():
    forged = forge("legacy-error", path='/1.1/statuses/user_timeline.json?x="', now=NOW)
    assert (
        forged.body
        == b'{"request":"\\/1.1\\/statuses\\/user_timeline.json","error":"Not authorized."}'
    )
    assert json.loads(forged.body)["request"] == "/1.1/statuses/user_timeline.json"


ECHO_THE_PATH = {
    "resource-not-found",
    "not-authorized-for-resource",
    "not-authorized-for-field",
    "resource-unavailable",
    "disallowed-resource",
    "invalid-request",
}


@pytest.mark.parametrize("fault", [*SLUGS, *map(str, CODES), *SHAPES])
def test_a_path_with_bytes_that_are_not_utf8_is_echoed_with_replacement_characters(fault):
    # mitmproxy keeps a raw \xff of the request target as a lone surrogate
    forged = forge(fault, path="/2/users/\udcff1?ids=\udcff1&user.fields=x\udcfe", now=NOW)
    text = forged.body.decode("utf-8")  # strict: the body is UTF-8
    assert "\udcff" not in text
    assert ("\ufffd" in text) is (fault in ECHO_THE_PATH)


def test_pages_that_are_not_the_apis_json_carry_no_api_headers():
    headers = headers_of(forge("html-503", path=V2_PATH, now=NOW))
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert not {"api-version", "content-disposition", "x-rate-limit-limit"} & set(headers)


def test_partial_errors_in_a_200_carry_the_window_as_every_api_response_does():
    headers = headers_of(forge("resource-not-found", path="/2/tweets/1", now=NOW))
    assert int(headers["x-rate-limit-remaining"]) > 0


def test_problem_types_are_forged_under_the_host_x_sends_today_and_decoded_under_either():
    for slug in SLUGS:
        if slug == "about:blank":
            continue
        forged = forge(slug, path="/2/tweets?ids=1,2", now=NOW)
        body = json.loads(forged.body)
        item = body["errors"][0] if forged.status == 200 else body
        assert item["type"] == f"https://api.x.com/2/problems/{slug}"
        old_host = forged.body.replace(b"https://api.x.com/", b"https://api.twitter.com/")
        for wire in (forged.body, old_host):
            result = decode(forged.status, forged.headers, wire, path="/2/tweets?ids=1,2")
            assert result.errors[0].known and result.errors[0].type.endswith(f"/problems/{slug}")


@pytest.mark.parametrize(
    "fault,path,detail",
    [
        # zeeraktalat/hatespeech#9, HunterLarco/twitter-v2#26: "the Tweet", capital T
        (
            "not-authorized-for-resource",
            "/2/tweets?ids=1000082502030065665",
            "Sorry, you are not authorized to see the Tweet with ids: [1000082502030065665].",
        ),
        # redouane59/twittered#157
        (
            "not-authorized-for-resource",
            "/2/users/123",
            "Sorry, you are not authorized to see the user with id: [123].",
        ),
        # HunterLarco/twitter-v2#33, academictwitteR#307: "tweet", lower case
        (
            "resource-not-found",
            "/2/tweets?ids=1341761249646956500",
            "Could not find tweet with ids: [1341761249646956500].",
        ),
        (
            "resource-not-found",
            "/2/users/by/username/nobody",
            "Could not find user with username: [nobody].",
        ),
        # PLhery/node-twitter-api-v2#432 (there on an expansion, parameter referenced_tweets.id)
        (
            "not-authorized-for-field",
            "/2/tweets/1602665220689764353",
            "Sorry, you are not authorized to access 'organic_metrics.like_count' on the Tweet "
            "with id : [1602665220689764353].",
        ),
    ],
)
def test_partial_error_details_read_as_captured(fault, path, detail):
    item = json.loads(forge(fault, path=path, now=NOW).body)["errors"][0]
    assert item["detail"] == detail


def test_a_field_authorization_error_names_the_field():
    item = json.loads(forge("not-authorized-for-field", path="/2/tweets/1", now=NOW).body)
    assert item["errors"][0]["field"] == "organic_metrics.like_count"


def test_a_duplicate_rule_carries_no_detail_as_captured():
    # mastashake08/discord-twitter-bot#7: value, id, title and type only
    item = json.loads(forge("duplicate-rules", path="/2/tweets/search/stream/rules", now=NOW).body)
    assert set(item["errors"][0]) == {"value", "id", "title", "type"}


# The text each code carries on the wire, where it differs from the seed's (its source is in
# the catalog's wire_source): the forgery sends it, the catalog keeps the seed's message.
WIRE_MESSAGES = {
    32: "Could not authenticate you.",
    34: "Sorry, that page does not exist.",
    89: "Invalid or expired token.",
    135: "Timestamp out of bounds.",
    187: "Status is a duplicate.",
    215: "Bad Authentication data.",
    261: (
        "Application cannot perform write actions. Contact Twitter Platform Operations "
        "through https://help.twitter.com/forms/platform."
    ),
    326: (
        "To protect our users from spam and other malicious activity, this account is "
        "temporarily locked. Please log in to https://twitter.com to unlock your account."
    ),
    64: "Your account is suspended and is not permitted to access this feature.",
    179: "Sorry, you are not authorized to see this status.",
    88: "Rate limit exceeded",
    144: "No status found with that ID.",
}


@pytest.mark.parametrize("code,wire", sorted(WIRE_MESSAGES.items()))
def test_common_codes_are_forged_with_their_wire_text_and_decoded_either_way(code, wire):
    entry = CATALOG.code(code)
    forged = forge(str(code), path=V1_PATH, now=NOW)
    assert json.loads(forged.body)["errors"][0]["message"] == wire
    assert entry.wire_source or entry.message == wire
    seed_text = forged.body.replace(wire.encode(), entry.message.encode())
    for body in (forged.body, seed_text):
        again = decode(forged.status, forged.headers, body, path=V1_PATH)
        assert [(e.code, e.category, e.label) for e in again.errors] == [
            (code, entry.category, f"{code} {entry.message}")
        ]
