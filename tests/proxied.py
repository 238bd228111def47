"""A fake API behind a real mitmdump (regular HTTPS proxy mode), and tweepy clients that go
through both: api.twitter.com is mapped to the fake API, and the clients trust mitmproxy's CA.
The `session` fixture in e2e/conftest.py starts them."""

from __future__ import annotations

import time

import tweepy

from fakeapi import SAMPLE_HEADER
from fakeapi import FakeApi
from processes import Mitmdump

TOKENS = {
    "consumer_key": "ck-twerr-test",
    "consumer_secret": "cs-twerr-test",
    "access_token": "at-twerr-test",
    "access_token_secret": "ats-twerr-test",
}
BEARER = "AAAAAAAAAAAAAAAAAAAAAtwerrE2eBearer"


def tokens(name: str) -> dict[str, str]:
    """Another user's credentials: the same consumer, another access token."""
    return {**TOKENS, "access_token": f"at-{name}", "access_token_secret": f"ats-{name}"}


class Session:
    """A fake API, a mitmdump in front of it, and tweepy clients that go through both."""

    def __init__(self, api: FakeApi, proxy: Mitmdump) -> None:
        self.api, self.proxy = api, proxy
        self.proxy_url = f"http://127.0.0.1:{proxy.port}"

    def v1(
        self, sample: str | None = None, credentials: dict[str, str] = TOKENS, **kwargs
    ) -> tweepy.API:
        api = tweepy.API(tweepy.OAuth1UserHandler(*credentials.values()), **kwargs)
        if sample:
            api.session.headers[SAMPLE_HEADER] = sample
        return api

    def v2(
        self,
        sample: str | None = None,
        credentials: dict[str, str] = TOKENS,
        bearer: str = BEARER,
        **kwargs,
    ) -> tweepy.Client:
        client = tweepy.Client(bearer_token=bearer, **credentials, **kwargs)
        if sample:
            client.session.headers[SAMPLE_HEADER] = sample
        return client


def mitmdump_args(upstream: str, inject: tuple[str, ...], options: tuple[str, ...]) -> list[str]:
    args = [
        "-s",
        "addon/twerr_addon.py",
        "--set",
        "connection_strategy=lazy",
        "--map-remote",
        f"|https://api.twitter.com|{upstream}",
        "--map-remote",
        f"|http://api.twitter.com|{upstream}",
        "--set",
        "twerr_scope=~all",
        "--set",
        "twerr_seed=1",
        *options,
    ]
    for spec in inject:
        args += ["--set", f"twerr_inject={spec}"]
    return args


def wait_for(proxy: Mitmdump, text: str, seconds: float = 10) -> str:
    """mitmdump's output so far, once it holds the text (or the time is up)."""
    deadline = time.monotonic() + seconds
    while text not in (log := proxy.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log
