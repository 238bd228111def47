import gzip
import json

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import corpus
from twerr.catalog import load_catalog
from twerr.decode import SCAN_WINDOW
from twerr.decode import decode
from twerr.decode import decode_failure
from twerr.decode import parse_rate_limit
from twerr.decode import utc

V1 = {"content-type": "application/json;charset=utf-8"}
SAMPLES = corpus.load().responses


def decode_sample(sample: corpus.Sample):
    headers = sample.response_headers(corpus.load().presets)
    return decode(sample.status, headers, sample.raw_body, path=sample.path)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_reference_responses(sample):
    decoded = decode_sample(sample)
    meta = decoded.to_metadata()
    expect = sample.expect
    assert (meta["shape"], meta["api"], meta["category"]) == (
        expect.shape,
        expect.api,
        expect.category,
    )
    assert [e["code"] for e in meta["errors"] if e["code"] is not None] == expect.codes
    slugs = [load_catalog().problem(e["type"]) for e in meta["errors"] if e["type"]]
    assert [p.slug for p in slugs if p and p.slug != "about:blank"] == expect.types
    assert all(e["known"] for e in meta["errors"]) is not expect.unknown
    if expect.retry_at is not None:
        assert meta["retry_at"] == expect.retry_at
    if expect.category == "success":
        assert meta["errors"] == [] and not meta["retryable"]
    else:
        assert meta["errors"], "an error response explains at least one error"
    assert json.loads(json.dumps(meta)) == meta


def test_v1_error_with_catalog_meaning():
    body = b'{"errors":[{"code":187,"message":"Status is a duplicate."}]}'
    (error,) = decode(403, V1, body, path="/1.1/statuses/update.json").errors
    assert error.code == 187
    assert error.message == "Status is a duplicate."
    assert error.label == "187 Status is a duplicate"
    assert error.meaning == "The status text has already been Tweeted by the authenticated account."
    assert (error.category, error.http_status, error.retry, error.known) == (
        "duplicate",
        403,
        "never",
        True,
    )


def test_several_v1_errors_and_the_headline_is_the_most_severe():
    items = [{"code": 34, "message": "x"}, {"code": 88, "message": "y"}, {"code": 131}]
    body = json.dumps({"errors": items}).encode()
    decoded = decode(429, V1, body)
    assert [e.code for e in decoded.errors] == [34, 88, 131]
    assert decoded.headline.code == 88
    assert decoded.category == "rate_limit"
    assert decoded.api == "v1.1"  # from the shape, when no path is given


@pytest.mark.parametrize(
    "code,expected",
    [
        ('"187"', 187),  # a string code
        ("187.0", 187),
        ("true", None),  # bool is not a code
        ("-5", None),
        ("1e400", None),
        ("99999999999999999999", None),
        ("null", None),
        ('{"a":1}', None),
    ],
)
def test_odd_code_values(code, expected):
    body = f'{{"errors":[{{"code":{code},"message":"Status is a duplicate."}}]}}'.encode()
    decoded = decode(403, V1, body)
    assert decoded.errors[0].code == expected
    assert decoded.errors[0].message == "Status is a duplicate."


def test_unknown_code_is_decoded_by_status_and_flagged():
    (error,) = decode(403, V1, b'{"errors":[{"code":999,"message":"Odd"}]}').errors
    assert (error.code, error.known, error.category) == (999, False, "permission")
    assert error.label == "999 Odd"
    assert "not in the catalog" in error.meaning
    assert "refused" in error.meaning  # the 403 description still explains it


def test_unknown_problem_type():
    body = (
        b'{"title":"Weird","detail":"Strange.","type":"https://api.twitter.com/2/problems/weird"}'
    )
    (error,) = decode(400, {}, body, path="/2/tweets").errors
    assert (error.known, error.category, error.label) == (
        False,
        "invalid_request",
        "weird: Strange.",
    )


def test_unknown_problem_inside_a_200_is_still_an_error():
    body = b'{"data":[],"errors":[{"title":"New","detail":"x","type":"https://api.x.com/2/problems/new-kind"}]}'
    decoded = decode(200, {}, body, path="/2/tweets")
    assert decoded.shape == "v2-partial"
    assert decoded.errors[0].category == "invalid_request"
    assert not decoded.errors[0].known


def test_problem_details_are_kept_as_strings():
    sample = next(s for s in SAMPLES if s.id == "v2-200-not-found-only")
    details = dict(decode_sample(sample).errors[0].details)
    assert details == {
        "parameter": "id",
        "value": "99999999999999999",
        "resource_type": "user",
        "resource_id": "99999999999999999",
    }


def test_invalid_request_lists_each_parameter_error():
    body = json.dumps(
        {
            "errors": [
                {"parameters": {"a": ["1"]}, "message": "The query parameter [a] is bad"},
                {"parameters": {"b": ["2"]}, "message": "The query parameter [b] is bad"},
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }
    ).encode()
    errors = decode(400, {}, body, path="/2/tweets/search/recent").errors
    assert [e.message for e in errors] == [
        "The query parameter [a] is bad",
        "The query parameter [b] is bad",
    ]
    assert dict(errors[1].details) == {"parameters": '{"b": ["2"]}'}


@pytest.mark.parametrize(
    "status,body,shape",
    [
        (403, b'{"errors":"Bad things"}', "unexpected-json"),
        (403, b'"just a string"', "unexpected-json"),
        (403, b"42", "text"),  # not JSON by its first byte, no JSON content type
        (500, b'{"foo":1}', "unexpected-json"),
        (500, b"{}", "unexpected-json"),
        (503, b'{"errors":[', "undecodable"),
        (503, b"[" * 100_000, "undecodable"),
        (400, b'{"a": NaN}', "undecodable"),
        (500, b"\x00\xff\xfe binary", "text"),
        (429, b"   \r\n ", "empty"),
    ],
)
def test_garbage_still_explains_the_status(status, body, shape):
    decoded = decode(status, {}, body)
    assert decoded.shape == shape
    assert decoded.errors and decoded.errors[0].http_status == status
    assert decoded.category == load_catalog().status(status).category
    assert "decoder error" not in decoded.note


@pytest.mark.parametrize(
    "status,category,retry",
    [
        (420, "rate_limit", "after_reset"),
        (503, "server", "backoff"),
        (413, "media", "never"),
        (304, "success", "never"),
    ],
)
def test_empty_bodies(status, category, retry):
    decoded = decode(status, {"content-length": "0"}, b"", path="/1.1/search/tweets.json")
    assert (decoded.category, decoded.retry) == (category, retry)
    assert decoded.shape == ("success" if status < 400 else "empty")
    assert len(decoded.errors) == (status >= 400)


def test_deep_nesting_is_reported_not_raised():
    decoded = decode(503, V1, b"[" * 100_000)
    assert decoded.note == "JSON nested too deeply"


def test_truncated_json_is_named():
    decoded = decode(503, V1, b'{"errors":[{"code":130,"message":"Over capa')
    assert decoded.shape == "undecodable"
    assert decoded.note.startswith("truncated JSON")


@pytest.mark.parametrize(
    "encoding,body,note",
    [
        ("gzip", b"not gzip at all", "gzip body could not be decompressed"),
        ("br", b"garbage!", "br body could not be decompressed"),
        ("br", b"\x1b\xff\xff\xff\xff", "br body is truncated"),
        ("gzip", gzip.compress(b'{"errors":[]}')[:12], "gzip body is truncated"),
        ("zstd", b"garbage", "zstd body could not be decompressed"),
        ("compress", b"whatever", "unsupported content-encoding 'compress'"),
    ],
)
def test_bad_compression_is_undecodable(encoding, body, note):
    decoded = decode(500, {"content-encoding": encoding}, body)
    assert decoded.shape == "undecodable"
    assert decoded.note.startswith(note)
    assert decoded.errors[0].label == "HTTP 500 Internal Server Error"


def test_stacked_content_encodings():
    body = b'{"errors":[{"code":88,"message":"Rate limit exceeded"}]}'
    twice = corpus.encode(gzip.compress(body), "br")
    decoded = decode(429, {"Content-Encoding": "gzip, br"}, twice)
    assert [e.code for e in decoded.errors] == [88]


def test_a_decompression_bomb_is_cut_off():
    bomb = gzip.compress(b'{"errors":[{"code":88,"message":"' + b"a" * (50 << 20) + b'"}]}')
    decoded = decode(429, {"content-encoding": "gzip"}, bomb)
    assert decoded.shape == "undecodable"
    assert decoded.category == "rate_limit"


def test_non_utf8_without_charset_is_read_and_noted():
    body = '{"errors":[{"code":226,"message":"we can\u2019t"}]}'.encode("cp1252")
    decoded = decode(403, V1, body)
    assert decoded.errors[0].code == 226
    assert decoded.note == "body is not valid UTF-8"


def test_streamed_body():
    decoded = decode(200, {}, None, path="/2/tweets/search/stream")
    assert (decoded.shape, decoded.errors) == ("streamed", ())
    decoded = decode(429, {"x-rate-limit-reset": "1700000000"}, None)
    assert decoded.shape == "streamed" and decoded.category == "rate_limit"


def test_transport_failure():
    decoded = decode_failure("Connection reset by peer", path="/1.1/statuses/update.json")
    meta = decoded.to_metadata()
    assert (meta["status"], meta["status_text"], meta["shape"]) == (
        0,
        "No response",
        "transport-error",
    )
    assert (meta["category"], meta["retry"], meta["api"]) == ("network", "backoff", "v1.1")
    assert meta["errors"][0]["label"] == "Transport error: Connection reset by peer"


# -- successes are not parsed to find nothing -------------------------------------------------


def test_v1_success_body_is_not_even_searched(monkeypatch):
    calls = []
    monkeypatch.setattr("twerr.decode._mentions_error", lambda c: calls.append(c) or False)
    body = b'{"errors":"this would be odd","id":1}'
    assert decode(200, V1, body, path="/1.1/statuses/show.json").shape == "success"
    assert calls == []
    decode(200, V1, body, path="/2/tweets/1")
    assert calls == [body]


def test_large_success_is_searched_at_both_ends_only(monkeypatch):
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(
        "twerr.decode.json.loads", lambda *a, **k: parsed.append(1) or real_loads(*a, **k)
    )
    middle = b'{"errors":[]}'
    filler = b'{"id":"1","text":"hello"},' * (2 * SCAN_WINDOW // 25)
    body = b'{"data":[' + filler + middle + b"," + filler + b"{}]}"
    assert decode(200, {}, body, path="/2/tweets").shape == "success"
    assert parsed == []  # nothing announced an error: no JSON parse
    tail = (
        b'{"data":['
        + filler
        + b'{}],"errors":[{"title":"Not Found Error","detail":"d","type":"https://api.twitter.com/2/problems/resource-not-found"}]}'
    )
    assert decode(200, {}, tail, path="/2/tweets").shape == "v2-partial"


def test_success_mentioning_errors_inside_a_string_is_still_success():
    body = b'{"data":{"id":"1","text":"my \\"errors\\" talk"}}'
    assert decode(200, {}, body, path="/2/tweets/1").shape == "success"
    nested = b'{"data":{"id":"1","meta":{"errors":[1]}}}'
    assert decode(200, {}, nested, path="/2/tweets/1").shape == "success"


def test_html_success_pages_are_not_errors():
    page = b"<html><head><title>Twitter / Authorize an application</title></head></html>"
    decoded = decode(200, {"content-type": "text/html"}, page, path="/oauth/authorize")
    assert decoded.shape == "success"


# -- rate limits --------------------------------------------------------------------------------


def test_rate_limit_headers():
    rate = parse_rate_limit(
        {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": "1700000000",
            "x-user-limit-24hour-limit": "100",
            "x-user-limit-24hour-remaining": "3",
            "x-user-limit-24hour-reset": "1700050000",
        }
    )
    meta = rate.to_dict()
    assert (meta["limit"], meta["remaining"], meta["reset"]) == (15, 0, 1700000000)
    assert meta["reset_utc"] == "2023-11-14T22:13:20Z"
    assert meta["user_24h"] == {
        "limit": 100,
        "remaining": 3,
        "reset": 1700050000,
        "reset_utc": "2023-11-15T12:06:40Z",
    }
    assert meta["app_24h"] is None
    assert (meta["exhausted"], meta["reset_at"]) == (["window"], 1700000000)


def test_24_hour_cap_429_with_window_remaining():
    rate = parse_rate_limit(
        {
            "x-rate-limit-limit": "50",
            "x-rate-limit-remaining": "49",
            "x-rate-limit-reset": "1665183228",
            "x-app-limit-24hour-limit": "1000",
            "x-app-limit-24hour-remaining": "0",
            "x-app-limit-24hour-reset": "1665262000",
        }
    )
    assert rate.exhausted == ("app_24h",)
    assert rate.reset_at == 1665262000


@pytest.mark.parametrize(
    "value,expected",
    [
        ("1700000000", 1700000000),
        (" 12 ", 12),
        ("-3", 0),
        ("abc", None),
        ("", None),
        ("9" * 5000, None),
        ("1.5", None),
        ("0x10", None),
    ],
)
def test_header_numbers_never_raise(value, expected):
    rate = parse_rate_limit({"x-rate-limit-reset": value})
    assert (rate.window.reset if rate else None) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("120", 120), ("Wed, 21 Oct 2015 07:28:00 GMT", 0), ("soon", None), ("-1", 0)],
)
def test_retry_after(value, expected):
    rate = parse_rate_limit({"retry-after": value})
    assert (rate.retry_after if rate else None) == expected


def test_utc_out_of_range():
    assert utc(10**18) is None
    assert utc(0) == "1970-01-01T00:00:00Z"


def test_headers_as_pairs_bytes_or_any_case():
    pairs = [(b"X-Rate-Limit-Remaining", b"0"), ("X-RATE-LIMIT-RESET", "5")]
    decoded = decode(429, pairs, b"")
    assert decoded.rate_limit.window.remaining == 0
    assert decoded.rate_limit.window.reset == 5


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Invalid oauth_token=1072250532645998596-Zq8dNbTm4Exa",
        'bad "oauth_token_secret":"s3cr3tS3cr3t"',
        "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid",
        "access_token=abcdefghijkl&x=1",
    ],
)
def test_secrets_in_bodies_are_scrubbed(text):
    body = json.dumps({"errors": [{"code": 32, "message": text}]}).encode()
    message = decode(401, V1, body).errors[0].message
    assert "<redacted>" in message
    for secret in (
        "1072250532645998596-Zq8dNbTm4Exa",
        "s3cr3tS3cr3t",
        "AAAAAAAAAAAAAAAAAAAAAML",
        "abcdefghijkl",
    ):
        assert secret not in message


def test_ordinary_words_are_not_scrubbed():
    text = "Invalid or expired token. Invalid oauth_verifier parameter. Bad bearer token"
    body = json.dumps({"errors": [{"code": 89, "message": text}]}).encode()
    assert decode(401, V1, body).errors[0].message == text


# -- never raises, always storable ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "errors",
                    "error",
                    "code",
                    "message",
                    "type",
                    "title",
                    "detail",
                    "data",
                    "status",
                    "parameters",
                    "processing_info",
                    "state",
                    "value",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
header_names = st.sampled_from(
    [
        "content-type",
        "content-encoding",
        "x-rate-limit-reset",
        "x-rate-limit-remaining",
        "x-app-limit-24hour-remaining",
        "retry-after",
        "x-other",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(min_value=-10, max_value=1200),
    headers=st.dictionaries(header_names, st.text(max_size=30), max_size=5),
    body=st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(lambda v: json.dumps(v)[: max(1, len(json.dumps(v)) // 2)].encode()),
        st.none(),
    ),
    path=st.sampled_from(["", "/1.1/statuses/update.json", "/2/tweets", "/oauth/request_token"]),
)
@example(status=403, headers={}, body=b'{"errors":[{"code":1e999}]}', path="")
@example(status=403, headers={}, body=b'{"errors":[{"message":"\\ud800"}]}', path="")
@example(status=200, headers={}, body=b'{"errors":[{"type":["x"],"title":{}}]}', path="/2/x")
@example(status=500, headers={"content-type": "text/plain; charset=bogus"}, body=b"\xff", path="")
def test_decode_never_raises_and_is_storable(status, headers, body, path):
    decoded = decode(status, headers, body, path=path)
    assert "decoder error" not in decoded.note
    meta = decoded.to_metadata()
    from mitmproxy.io import tnetstring  # what flow files are made of

    assert tnetstring.loads(tnetstring.dumps(meta)) == meta
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta


@pytest.mark.parametrize(
    "headers,reset_at",
    [
        ({"x-rate-limit-reset": "100"}, 100),  # remaining not sent: the window is the best guess
        ({"x-rate-limit-remaining": "5", "x-rate-limit-reset": "100"}, None),  # not spent
        (
            {
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": "100",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": "900",
            },
            900,
        ),
        ({"retry-after": "30"}, None),
    ],
)
def test_reset_at_only_from_spent_windows(headers, reset_at):
    assert parse_rate_limit(headers).reset_at == reset_at


def test_usage_cap_does_not_claim_the_window_reset():
    sample = next(s for s in SAMPLES if s.id == "v2-429-usage-capped")
    meta = decode_sample(sample).to_metadata()
    assert (meta["retry"], meta["retry_at"]) == ("after_reset", None)
