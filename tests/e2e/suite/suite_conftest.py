"""conftest.py of the test suites pytester runs (test_pytest_plugin.py): the user's side, a
bot's test suite with its own test double of the X API."""

from pathlib import Path

import pytest
import tweepy

from fakeapi import FakeApi
from processes import still_running
from proxied import TOKENS


@pytest.fixture
def fake_api():
    with FakeApi() as api:
        yield api


@pytest.fixture
def fake_api_url(fake_api):
    return f"http://127.0.0.1:{fake_api.port}"


@pytest.fixture
def v1(monkeypatch):
    """A tweepy v1.1 client through a twerr proxy. requests reads its CA from
    REQUESTS_CA_BUNDLE before anything else, so that is where the proxy's CA goes."""

    sessions = []

    def client(proxy) -> tweepy.API:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", proxy.ca_path)
        api = tweepy.API(tweepy.OAuth1UserHandler(*TOKENS.values()), proxy=proxy.url)
        sessions.append(api.session)
        return api

    yield client
    for session in sessions:
        session.close()


@pytest.fixture
def record():
    """Writes a proxy's pid and port where the outer test looks, to check they are gone."""

    def write(proxy) -> None:
        with open("proxies.txt", "a") as file:
            file.write(f"{proxy.pid} {proxy.port}\n")

    return write


def proxies_left() -> list[str]:
    """The recorded proxies that still run or listen (each is given 5 s to go)."""
    lines = Path("proxies.txt").read_text().splitlines()
    return [line for line in lines if still_running(*map(int, line.split()))]
