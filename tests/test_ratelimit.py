import pytest

from twerr.inject.windows import Windows
from twerr.inject.windows import credential
from twerr.inject.windows import endpoint_key

KEY = ("rule", "GET api.twitter.com/1.1/statuses/user_timeline.json", "abc")


def test_a_window_counts_down_then_refuses_until_it_resets():
    windows = Windows()
    seen = [windows.take(KEY, 3, 900, now=1000.0 + i) for i in range(5)]
    assert [w.remaining for w in seen] == [2, 1, 0, -1, -2]
    assert {w.reset for w in seen} == {1900}
    fresh = windows.take(KEY, 3, 900, now=1900.0)
    assert (fresh.remaining, fresh.reset) == (2, 2800)


def test_windows_are_kept_per_key_and_bounded():
    windows = Windows(max_windows=2)
    windows.take(("a",), 1, 60, now=0)
    windows.take(("b",), 1, 60, now=0)
    assert windows.take(("a",), 1, 60, now=1).remaining == -1  # a is used again: kept
    windows.take(("c",), 1, 60, now=2)  # b, least recently used, is dropped
    assert len(windows) == 2
    assert windows.take(("b",), 1, 60, now=3).remaining == 0


@pytest.mark.parametrize(
    "method,path,key",
    [
        ("get", "/2/tweets/1460323737035677698?expansions=x", "GET /2/tweets/:id"),
        ("GET", "/1.1/statuses/show/20.json", "GET /1.1/statuses/show/:id.json"),
        ("POST", "/2/users/2244994945/likes", "POST /2/users/:id/likes"),
        ("GET", "/2/users/by/username/jack", "GET /2/users/by/username/:name"),
        ("GET", "/2/spaces/1DXxyRYNejbKM", "GET /2/spaces/:id"),
        ("GET", "/2/tweets/search/recent", "GET /2/tweets/search/recent"),
        ("POST", "/2/oauth2/token", "POST /2/oauth2/token"),
        ("GET", "/1.1/statuses/user_timeline.json", "GET /1.1/statuses/user_timeline.json"),
    ],
)
def test_endpoints(method, path, key):
    assert endpoint_key(method, path) == key


OAUTH = (
    'OAuth oauth_consumer_key="ck1", oauth_nonce="{nonce}", oauth_signature="{sig}", '
    'oauth_signature_method="HMAC-SHA1", oauth_timestamp="{ts}", oauth_token="tk1", '
    'oauth_version="1.0"'
)


def test_the_credential_ignores_nonce_signature_and_time_and_never_shows_the_token():
    one = credential(OAUTH.format(nonce="n1", sig="s1", ts="1"))
    two = credential(OAUTH.format(nonce="n2", sig="s2", ts="2"))
    assert one == two
    assert credential(OAUTH.format(nonce="n", sig="s", ts="1").replace("tk1", "tk2")) != one
    bearer = credential("Bearer AAAAAAAAAAAAAAAAAAAAAsecret")
    assert bearer != one and "secret" not in bearer and len(bearer) == 16
    assert credential(None) == "anonymous"
    assert credential(None, [("oauth_token", "tk1"), ("oauth_consumer_key", "ck1")]) == one
