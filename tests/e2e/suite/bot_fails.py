"""A bot's tests that fail (run by test_pytest_plugin.py): the audit's findings fail one, an
exception the other; their proxies must stop all the same."""

from pathlib import Path

import pytest
import tweepy
from conftest import proxies_left


def test_a_retried_duplicate_fails_the_test(twerr_proxy, fake_api_url, v1, record):
    proxy = twerr_proxy(upstream=fake_api_url, inject=[":~u /1.1/statuses/update:187"])
    record(proxy)
    api = v1(proxy)
    for _ in range(2):
        with pytest.raises(tweepy.Forbidden):
            api.update_status("hello")
    proxy.assert_no_findings()


def test_a_crash_in_the_test(twerr_proxy, fake_api_url, v1, record):
    first = twerr_proxy(upstream=fake_api_url)
    second = twerr_proxy(upstream=fake_api_url)
    record(first)
    record(second)
    v1(first).get_status(1)
    raise RuntimeError("the bot crashed")


def test_the_proxies_of_the_failed_tests_are_gone():
    """Stopped by the fixture as each test ended: this process, their parent, still runs."""
    assert len(Path("proxies.txt").read_text().splitlines()) == 3
    assert proxies_left() == []
