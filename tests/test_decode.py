import gzip
import json

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import corpus
from twerr import record
from twerr.catalog import load_catalog
from twerr.decode import decode
from twerr.decode import decode_failure
from twerr.decode import redact
from twerr.decode import utc
from twerr.decode.body import BodyReader
from twerr.decode.ratelimit import parse_rate_limit
from twerr.decode.shapes import SCAN_WINDOW

V1 = {"content-type": "application/json;charset=utf-8"}
SAMPLES = corpus.load().responses


def decode_sample(sample: corpus.Sample):
    headers = sample.response_headers(corpus.load().presets)
    return decode(sample.status, headers, sample.raw_body, path=sample.path)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_reference_responses(sample):
    decoded = decode_sample(sample)
    meta = record.of_decoded(decoded)
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
    meta = record.of_decoded(decoded)
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
    monkeypatch.setattr("twerr.decode.shapes._mentions_error", lambda c: calls.append(c) or False)
    body = b'{"errors":"this would be odd","id":1}'
    assert decode(200, V1, body, path="/1.1/statuses/show.json").shape == "success"
    assert calls == []
    decode(200, V1, body, path="/2/tweets/1")
    assert calls == [body]


def test_large_success_is_searched_at_both_ends_only(monkeypatch):
    parsed = []
    real_parse = BodyReader.parse_json
    monkeypatch.setattr(
        BodyReader, "parse_json", lambda self, c: parsed.append(1) or real_parse(self, c)
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
    assert parsed == [1]  # the errors at its tail were found, and parsed once


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
    meta = record.of_rate_limit(rate)
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


SENT = "Wed, 21 Oct 2015 07:26:00 GMT"
LATER = "Wed, 21 Oct 2015 07:28:00 GMT"  # 1445412480


@pytest.mark.parametrize(
    "value,date,seconds,at",
    [
        ("120", SENT, 120, 1445412480),
        ("120", None, 120, None),  # no Date: no absolute time (now would change on replay)
        (LATER, SENT, 120, 1445412480),
        (LATER, None, None, 1445412480),
        (SENT, LATER, 0, 1445412360),
        ("soon", SENT, None, None),
        ("-1", SENT, 0, 1445412360),
    ],
)
def test_retry_after_is_measured_from_the_response_date(value, date, seconds, at):
    headers = {"retry-after": value, **({"date": date} if date else {})}
    rate = parse_rate_limit(headers)
    assert ((rate.retry_after, rate.retry_after_at) if rate else (None, None)) == (seconds, at)


def test_retry_after_gives_the_time_to_retry_a_server_error():
    headers = {"retry-after": "120", "date": SENT}
    decoded = decode(503, headers, b"", path="/12/accounts")
    assert decoded.retry_at == 1445412480
    decoded = decode(429, headers, b'{"errors":[{"code":88,"message":"Rate limit exceeded"}]}')
    assert decoded.retry_at == 1445412480


@pytest.mark.parametrize(
    "code_or_type,headers,retry_at",
    [
        # a monthly usage cap: the spent 15-minute window says nothing about its end
        ("usage-capped", {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "100"}, None),
        # the daily posting limit ends with the 24-hour cap, not with the window
        (
            185,
            {
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": "100",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": "900",
            },
            900,
        ),
        (185, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "100"}, None),
        (88, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "100"}, 100),
        (187, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "100"}, None),
    ],
)
def test_retry_at_comes_from_the_limit_that_ended(code_or_type, headers, retry_at):
    if isinstance(code_or_type, int):
        body = json.dumps({"errors": [{"code": code_or_type, "message": "m"}]})
    else:
        body = json.dumps(
            {
                "title": "t",
                "detail": "d",
                "type": f"https://api.twitter.com/2/problems/{code_or_type}",
            }
        )
    assert decode(429, headers, body.encode()).retry_at == retry_at


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
    "text,secret",
    [
        ("Invalid oauth_token=1072250532645998596-Zq8dNbTm4Exa", "1072250532645998596"),
        ('bad "oauth_token_secret":"s3cr3tS3cr3t"', "s3cr3tS3cr3t"),
        ("Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid", "AAAAAAAAAAAAAAAA"),
        ("access_token=abcdefghijkl&x=1", "abcdefghijkl"),
        ("access_token_secret=S3cr3tS3cr3t", "S3cr3tS3cr3t"),
        ("oauth_consumer_key=xvz1evFS4wEEPTGEFPHBog", "xvz1evFS4wEEPTGEFPHBog"),
        ("bearer_token=AAAAAAAAAAAAAAAAAAAAAMLheAAAA", "AAAAAAAAAAAAAAAAAAAAAMLheAAAA"),
        ("consumer_secret=S3cr3t", "S3cr3t"),
        ("Cookie: ct0=0123456789abcdef", "0123456789abcdef"),
    ],
)
def test_secrets_in_bodies_are_scrubbed(text, secret):
    body = json.dumps({"errors": [{"code": 32, "message": text}]}).encode()
    message = decode(401, V1, body).errors[0].message
    assert "<redacted>" in message
    assert secret not in message


def _clean_with_every_pattern(text: str) -> str:
    """_clean as it was before it skipped the patterns that cannot match."""
    d = redact
    text = " ".join(text[: 4 * d.TEXT_LIMIT].split())
    text = d._CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))
    text = d._BEARER.sub(r"\1<redacted>", text)
    text = d._ASSIGNMENT.sub(d._redact_assignment, text)
    return text if len(text) <= d.TEXT_LIMIT else text[: d.TEXT_LIMIT] + "…"


@given(st.text(alphabet="bearsicBAS\u0130\u0131\u017f =:\x00\x85\u2028\ud800xyz_-\"'"))
@example("BAS\u0130C dXNlcjpwYXNzd29yZA==")  # (?i)basic matches dotted capital I, dotless i
@example("ba\u017fic dXNlcjpwYXNzd29yZA== and bearer_token=ABCDEFGH")  # and long s
@example("a\x00b\x9fc\u200bd")
@settings(max_examples=500)
def test_cleaning_skips_only_patterns_that_cannot_match(text):
    assert redact.clean(text) == _clean_with_every_pattern(text)


@pytest.mark.parametrize("name", ["next_token", "previous_token", "pagination_token"])
def test_pagination_cursors_are_not_credentials(name):
    # v2 names the refused cursor in an invalid-request: a user must see which one it was
    body = json.dumps(
        {
            "errors": [{"parameters": {name: ["b26v89c19zqg8o3fp"]}, "message": f"{name}=b26v89"}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }
    ).encode()
    [error] = decode(400, V1, body, path="/2/tweets/search/recent").errors
    assert error.message == f"{name}=b26v89"
    assert dict(error.details)["parameters"] == json.dumps({name: ["b26v89c19zqg8o3fp"]})


@pytest.mark.parametrize("name", ["oauth_token", "access_token", "bearer_token", "token"])
def test_other_token_names_stay_redacted_in_details(name):
    problem = "https://api.twitter.com/2/problems/invalid-request"
    item = {"parameters": {name: ["s3cr3tvalue"]}, "message": "x"}
    body = json.dumps({"errors": [item], "type": problem}).encode()
    [error] = decode(400, V1, body, path="/2/tweets").errors
    assert "s3cr3tvalue" not in dict(error.details)["parameters"]


def test_ordinary_words_are_not_scrubbed():
    text = "Invalid or expired token. Invalid oauth_verifier parameter. Bad bearer token"
    body = json.dumps({"errors": [{"code": 89, "message": text}]}).encode()
    assert decode(401, V1, body).errors[0].message == text


# -- never raises, always storable ------------------------------------------------------------

any_text = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "errors",
                    "error",
                    "error_description",
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
                    "name",
                    "oauth_token",
                ]
            )
            | any_text,
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
charsets = st.sampled_from(
    [
        "utf-8",
        "utf-16",
        "utf-32",
        "utf-8-sig",
        "utf-7",
        "latin-1",
        "cp1252",
        "rot13",
        "idna",
        "punycode",
        "hex",
        "bogus",
        "",
    ]
)
content_types = st.builds(
    lambda kind, charset: f"{kind}; charset={charset}" if charset else kind,
    st.sampled_from(
        [
            "application/json",
            "application/problem+json",
            "text/html",
            "text/plain",
            "application/xml",
            "",
        ]
    ),
    charsets,
)
header_values = st.text(max_size=30) | st.integers(-(10**30), 10**30).map(str)
headers = st.dictionaries(
    st.sampled_from(
        [
            "x-rate-limit-reset",
            "x-rate-limit-remaining",
            "x-rate-limit-limit",
            "x-app-limit-24hour-remaining",
            "x-app-limit-24hour-reset",
            "x-user-limit-24hour-reset",
            "retry-after",
            "date",
            "x-other",
        ]
    ),
    header_values,
    max_size=6,
).flatmap(
    lambda h: st.builds(
        lambda ctype, encoding: {
            **h,
            "content-type": ctype,
            **({"content-encoding": encoding} if encoding else {}),
        },
        content_types,
        st.sampled_from(["", "", "gzip", "br", "zstd", "deflate", "identity", "x-what"]),
    )
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v)[: max(1, len(json.dumps(v)) // 2)].encode()),
    st.tuples(json_values, charsets).map(lambda vc: _encode_in(vc[0], vc[1])),
    st.sampled_from(
        [
            b"\xff\xfe",
            b"\xef\xbb\xbf",
            b"+",
            b'<errors><error code="1">',
            b"<title>Twitter / Over capacity",
            b"\x1f\x8b\x08\x00",
        ]
    ),
    st.none(),
)


def _encode_in(value, charset: str) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False).encode(charset or "utf-8")
    except (LookupError, UnicodeError, TypeError):
        return json.dumps(value).encode()


@settings(max_examples=1000, deadline=None)
@given(
    status=st.integers(min_value=-10, max_value=1200) | st.integers(),
    headers=headers,
    body=bodies,
    path=st.sampled_from(
        [
            "",
            "/1.1/statuses/update.json",
            "/2/tweets",
            "/1.1/media/upload.json",
            "/oauth/request_token",
        ]
    )
    | any_text,
)
@example(status=403, headers={}, body=b'{"errors":[{"code":1e999}]}', path="")
@example(status=403, headers={}, body=b'{"errors":[{"message":"\\ud800"}]}', path="")
@example(status=200, headers={}, body=b'{"errors":[{"type":["x"],"title":{}}]}', path="/2/x")
@example(status=500, headers={"content-type": "text/plain; charset=bogus"}, body=b"\xff", path="")
@example(
    status=503, headers={"content-type": "text/plain; charset=utf-16"}, body=b"\xff\xfe", path=""
)
def test_decode_never_raises_and_is_storable(status, headers, body, path):
    decoded = decode(status, headers, body, path=path)
    assert "decoder error" not in decoded.note
    meta = record.of_decoded(decoded)
    from mitmproxy.io import tnetstring  # what flow files are made of

    assert tnetstring.loads(tnetstring.dumps(meta)) == meta
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta
    if decoded.status >= 400:
        assert meta["errors"] and meta["category"] != "success"


# -- found in review: odd bodies, secrets echoed back, limits -------------------------------


@pytest.mark.parametrize(
    "content_type,body",
    [
        ("text/plain; charset=utf-16", b"\xff\xfe"),  # a BOM and nothing else
        ("text/plain; charset=utf-8-sig", b"\xef\xbb\xbf"),
        ("text/plain; charset=utf-7", b"+"),
        ("text/plain", b"\n\n  \n"),
    ],
)
def test_bodies_that_decode_to_no_text(content_type, body):
    decoded = decode(503, {"content-type": content_type}, body)
    assert decoded.category == "server"
    assert "decoder error" not in decoded.note


def test_control_characters_in_a_header_number():
    headers = [(b"x-rate-limit-reset", b"\x1c1700000000"), (b"x-rate-limit-remaining", b"0")]
    body = b'{"errors":[{"code":88,"message":"Rate limit exceeded"}]}'
    decoded = decode(429, headers, body)
    assert decoded.category == "rate_limit"
    assert decoded.rate_limit.window.reset is None
    assert "decoder error" not in decoded.note


def test_parameters_echoing_a_credential_are_blanked():
    token = "1072250532645998596-Zq8dNbTm4ExampleAccessToken0001"
    body = json.dumps(
        {
            "errors": [
                {
                    "parameters": {"oauth_token": [token], "query": ["cats"]},
                    "message": "The query parameter [oauth_token] is not one of [query]",
                }
            ],
            "title": "Invalid Request",
            "detail": "d",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }
    ).encode()
    meta = record.of_decoded(decode(400, V1, body, path="/2/tweets/search/recent"))
    assert token not in json.dumps(meta)
    assert meta["errors"][0]["details"]["parameters"] == (
        '{"oauth_token": "<redacted>", "query": ["cats"]}'
    )


def test_a_long_message_is_scrubbed_before_it_is_cut():
    text = "x" * 480 + " Bearer " + "A" * 100
    message = decode(401, V1, json.dumps({"errors": [{"code": 89, "message": text}]}).encode())
    assert "AAAAAAAA" not in message.errors[0].message


def test_terminal_escapes_are_dropped():
    body = json.dumps({"errors": [{"code": 999, "message": "\u001b[2J\u001b[31mFAKE\u0085"}]})
    assert "\x1b" not in decode(403, V1, body.encode()).errors[0].label


def test_many_errors_are_capped():
    body = b'{"errors":[' + b",".join([b'{"code":187}'] * 80_000) + b"]}"
    decoded = decode(403, V1, body)
    assert len(decoded.errors) == 50
    assert decoded.note == "79950 more errors not shown"


def test_unclosed_xml_errors_are_bounded():
    body = b"<errors>" + b'<error code="415">x' * 8000
    decoded = decode(403, {}, body, path="/oauth/request_token")
    assert decoded.shape == "oauth-xml"
    assert len(decoded.errors) == 50
    assert decoded.errors[0].code == 415


def test_xml_entities_are_unescaped():
    body = (
        b'<errors><error code="417">Desktop applications only support the oauth_callback '
        b"value &apos;oob&apos;</error></errors>"
    )
    (error,) = decode(401, {}, body, path="/oauth/request_token").errors
    assert error.message.endswith("value 'oob'")


def test_v2_media_status_with_processing_info_under_data():
    body = {
        "data": {
            "id": "1",
            "processing_info": {
                "state": "failed",
                "error": {"code": 1, "name": "UnsupportedMedia", "message": "Unsupported codec"},
            },
        }
    }
    decoded = decode(200, {}, json.dumps(body).encode(), path="/2/media/upload")
    assert decoded.shape == "media-processing"
    assert decoded.errors[0].label == "media UnsupportedMedia failed"


def test_oauth2_error_with_an_errors_array_is_oauth2():
    body = {
        "error": "invalid_request",
        "error_description": "Value passed for the authorization code was invalid.",
        "errors": [{"message": "Value passed for the authorization code was invalid."}],
    }
    decoded = decode(400, {}, json.dumps(body).encode(), path="/2/oauth2/token")
    assert decoded.shape == "oauth2"
    assert decoded.errors[0].type == "invalid_request"


def test_ads_api_string_codes_are_kept():
    item = {"code": "INVALID_PARAMETER", "message": "Expected Long", "parameter": "tweet_ids"}
    body = json.dumps({"errors": [item], "request": {"params": {}}}).encode()
    (error,) = decode(400, {}, body, path="/12/accounts/abc/promoted_tweets").errors
    assert error.label == "INVALID_PARAMETER: Expected Long"
    assert dict(error.details) == {"code": "INVALID_PARAMETER", "parameter": "tweet_ids"}


def test_huge_success_bodies_are_not_parsed():
    err = [
        {
            "title": "Not Found Error",
            "detail": "d",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }
    ]
    items = [{"id": str(i), "text": "x" * 200} for i in range(40_000)]
    body = json.dumps({"errors": err, "data": items}).encode()
    decoded = decode(200, {}, body, path="/2/tweets")
    assert decoded.shape == "success"
    assert decoded.note.startswith("body over")
    decoded = decode(
        200,
        {"content-encoding": "gzip"},
        gzip.compress(json.dumps({"data": items, "x": items}).encode()),
        path="/2/tweets",
    )
    assert (decoded.shape, decoded.note) == ("success", "only the start of a huge body was read")


def test_headers_read_the_same_from_raw_pairs_in_any_case_and_from_a_mapping():
    """The raw lower-case pairs mitmproxy hands over take a quicker way than other headers;
    both must read the first of repeated headers, whatever the case of the names."""
    pairs = (
        (b"content-type", b"application/json"),
        (b"x-rate-limit-limit", b"900"),
        (b"x-rate-limit-remaining", b"0"),
        (b"x-rate-limit-remaining", b"7"),
        (b"x-rate-limit-reset", b"1648976680"),
        (b"retry-after", b"60"),
        (b"date", b"Sun, 03 Apr 2022 08:49:40 GMT"),
    )
    mixed = tuple((name.title(), value) for name, value in pairs)
    as_text = [(name.decode(), value.decode()) for name, value in mixed]
    body = b'{"errors":[{"code":88,"message":"Rate limit exceeded"}]}'
    decoded = [decode(429, headers, body) for headers in (pairs, mixed, as_text, dict(as_text))]
    assert decoded[0].rate_limit is not None and decoded[0].rate_limit.window.remaining == 0
    assert decoded[0].rate_limit.retry_after_at == 1648975840
    assert all(other == decoded[0] for other in decoded[1:3])
    assert decoded[3].rate_limit.window.remaining == 7  # a dict keeps the last: its own choice


def test_a_remembered_error_body_is_decoded_the_same_with_or_without_a_path():
    body = b'{"errors":[{"code":32,"message":"Could not authenticate you."}]}'
    first = decode(401, {}, body, path="/oauth/request_token")
    again = decode(401, {}, body)  # no path: the body's shape names the API
    assert (first.api, again.api) == (None, "v1.1")
    assert decode(401, {}, body, path="/oauth/request_token").api is None
