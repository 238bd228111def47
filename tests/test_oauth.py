"""The OAuth 1.0a token endpoints answer in their own formats, and so do twerr's forgeries:
the XML of oauth/request_token, the text of oauth/access_token. Real client libraries (twython,
tweepy's OAuth1UserHandler) must raise the same error for a forgery as for the captured one."""

import json
from unittest import mock

import pytest
import requests
import tweepy
import twython
from requests.adapters import BaseAdapter
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

import corpus
from twerr.decode import decode
from twerr.inject.forge import forge

NOW = 1_767_225_600
SAMPLES = {sample.id: sample for sample in corpus.load().responses}
REQUEST_TOKEN = "/oauth/request_token"
ACCESS_TOKEN = "/oauth/access_token"


class Canned(BaseAdapter):
    """Answers every request with one response: status, headers, body."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__()
        self.status, self.headers, self.body = status, headers, body

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code = self.status
        response.reason = requests.status_codes._codes[self.status][0].replace("_", " ").title()
        response.headers = CaseInsensitiveDict(
            (name, value) for name, value in self.headers if name.lower() != "content-encoding"
        )
        response._content = self.body
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def real(sample_id: str) -> Canned:
    sample = SAMPLES[sample_id]
    return Canned(
        sample.status, sample.response_headers(corpus.load().presets), sample.body.encode()
    )


def forged(fault: str, path: str) -> Canned:
    made = forge(fault, path=path, now=NOW)
    return Canned(made.status, list(made.headers), made.body)


def raised(call, answer: Canned) -> tuple[str, str]:
    """What the call raises when every request it makes gets `answer` (the clients make new
    sessions on the way: tweepy's get_access_token does; no request leaves the test)."""

    def send(adapter, request, **kwargs):
        return answer.send(request)

    with mock.patch.object(HTTPAdapter, "send", send), pytest.raises(Exception) as info:
        call()
    return type(info.value).__name__, str(info.value)


def twython_request_token(answer: Canned) -> tuple[str, str]:
    client = twython.Twython("ck-oauth", "cs-oauth")
    return raised(lambda: client.get_authentication_tokens(callback_url="https://e.com/cb"), answer)


def tweepy_request_token(answer: Canned) -> tuple[str, str]:
    handler = tweepy.OAuth1UserHandler("ck-oauth", "cs-oauth", callback="https://example.com/cb")
    return raised(handler.get_authorization_url, answer)


def twython_access_token(answer: Canned) -> tuple[str, str]:
    client = twython.Twython("ck-oauth", "cs-oauth", "request-token", "request-secret")
    return raised(lambda: client.get_authorized_tokens("1234567"), answer)


def tweepy_access_token(answer: Canned) -> tuple[str, str]:
    handler = tweepy.OAuth1UserHandler("ck-oauth", "cs-oauth", callback="https://example.com/cb")
    handler.request_token = {"oauth_token": "request-token", "oauth_token_secret": "request-secret"}
    return raised(lambda: handler.get_access_token("1234567"), answer)


@pytest.mark.parametrize("client", [twython_request_token, tweepy_request_token])
def test_a_callback_error_on_request_token_is_the_xml_the_api_sends(client):
    view = client(forged("415", REQUEST_TOKEN))
    assert view == client(real("oauth-xml-415"))
    assert '<error code="415">Callback URL not approved' in view[1]


def test_the_forged_xml_is_the_captured_xml_with_its_content_type():
    made = forge("415", path=REQUEST_TOKEN + "?oauth_callback=x", now=NOW)
    sample = SAMPLES["oauth-xml-415"]
    assert (made.status, made.body.decode()) == (sample.status, sample.body)
    assert dict(made.headers)["content-type"] == "application/xml;charset=utf-8"
    assert not {"x-rate-limit-limit", "content-disposition"} & set(dict(made.headers))
    result = decode(made.status, made.headers, made.body, path=REQUEST_TOKEN)
    assert (result.shape, [e.code for e in result.errors]) == ("oauth-xml", [415])


def test_desktop_apps_get_their_417_in_the_same_xml():
    # hybridauth/hybridauth#1314: HTTP 401 from oauth/request_token
    made = forge("417", path=REQUEST_TOKEN, now=NOW)
    assert made.status == 401
    assert made.body == (
        b"<?xml version='1.0' encoding='UTF-8'?><errors><error code=\"417\">Desktop "
        b"applications only support the oauth_callback value 'oob'</error></errors>"
    )


def test_bad_credentials_on_request_token_stay_the_json_the_api_sends():
    # xdevplatform/twauth-web#4, walinejs/auth#30: 401 {"errors":[{"code":32,...}]}
    made = forge("32", path=REQUEST_TOKEN, now=NOW)
    assert json.loads(made.body) == {
        "errors": [{"code": 32, "message": "Could not authenticate you."}]
    }


@pytest.mark.parametrize(
    "client,shows",
    [
        (twython_access_token, "Invalid / expired To"),  # twython reads no text, only JSON
        (tweepy_access_token, "response was 'Error processing your OAuth request: Invalid"),
    ],
)
def test_a_bad_verifier_on_access_token_is_the_text_the_api_sends(client, shows):
    view = client(forged("oauth-text", ACCESS_TOKEN))
    assert view == client(real("oauth-text-verifier"))
    assert "401" in view[1] and shows in view[1]


def test_the_forged_text_is_the_captured_text():
    made = forge("oauth-text", path=ACCESS_TOKEN, now=NOW)
    sample = SAMPLES["oauth-text-verifier"]
    assert (made.status, made.body.decode()) == (sample.status, sample.body)
    assert dict(made.headers)["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("path", ["/1.1/statuses/update.json", "/2/tweets"])
def test_the_callback_code_elsewhere_keeps_its_api_family(path):
    made = forge("415", path=path, now=NOW)
    assert dict(made.headers)["content-type"].startswith("application/json")
