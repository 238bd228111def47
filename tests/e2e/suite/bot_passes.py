"""A bot's tests that pass, with twerr's fixture (run by test_pytest_plugin.py)."""

import pytest
import tweepy

from twerr.testing import ProxyError


def test_bot_survives_a_duplicate(twerr_proxy, fake_api, fake_api_url, v1, record):
    proxy = twerr_proxy(upstream=fake_api_url, inject=[":~u /1.1/statuses/update:187"], seed=42)
    record(proxy)
    api = v1(proxy)
    with pytest.raises(tweepy.Forbidden) as raised:
        api.update_status("hello")
    assert raised.value.api_codes == [187]
    assert proxy.flows[-1].metadata["twerr"]["errors"][0]["code"] == 187
    assert api.get_status(1445880548472328192).text == "hello"  # from the test double
    last = proxy.flows[-1]
    assert (last.request.pretty_host, last.response.status_code) == ("api.twitter.com", 200)
    assert [(method, path.split("?")[0]) for method, path, _ in fake_api.requests] == [
        ("GET", "/1.1/statuses/show.json")
    ]
    proxy.assert_no_findings()
    assert proxy.verdicts == {"187": "handled well"}  # it went on to other calls


def test_rules_change_as_the_proxy_runs(twerr_proxy, fake_api_url, v1, record):
    proxy = twerr_proxy(upstream=fake_api_url)
    record(proxy)
    api = v1(proxy)
    api.get_status(1)
    proxy.next(":~u /1.1/statuses/show:http503")
    with pytest.raises(tweepy.TwitterServerError):
        api.get_status(1)
    api.get_status(1)
    proxy.inject(":~u /1.1/statuses/show:88")
    for _ in range(2):
        with pytest.raises(tweepy.TooManyRequests):
            api.get_status(1)
    proxy.clear()
    api.get_status(1)
    assert [flow.response.status_code for flow in proxy.flows] == [200, 503, 200, 429, 429, 200]
    with pytest.raises(ValueError, match=r"Cannot parse twerr\.inject spec"):
        proxy.inject(":~u /1.1/statuses/show:no-such-fault")


def test_the_audit_flags_a_retried_duplicate(twerr_proxy, fake_api_url, v1, record):
    proxy = twerr_proxy(upstream=fake_api_url, inject=[":~u /1.1/statuses/update:187"])
    record(proxy)
    api = v1(proxy)
    for _ in range(2):
        with pytest.raises(tweepy.Forbidden):
            api.update_status("hello")
    [finding] = proxy.findings
    assert (finding["finding"], finding["error"]) == ("permanent-retry", "187")
    assert finding["endpoint"] == "POST api.twitter.com/1.1/statuses/update.json"
    with pytest.raises(AssertionError, match="permanent-retry"):
        proxy.assert_no_findings()
    assert proxy.report()["findings"] == 1
    assert proxy.verdicts == {"187": "retried a permanent error"}


def test_two_proxies_in_one_test(twerr_proxy, fake_api_url, v1, record):
    faulty = twerr_proxy(upstream=fake_api_url, inject=[":~u /1.1/statuses/show:88"])
    plain = twerr_proxy(upstream=fake_api_url)
    record(faulty)
    record(plain)
    assert faulty.port != plain.port
    with pytest.raises(tweepy.TooManyRequests):
        v1(faulty).get_status(1)
    v1(plain).get_status(1)
    assert [f.response.status_code for f in faulty.flows] == [429]
    assert [f.response.status_code for f in plain.flows] == [200]


def test_a_rule_added_in_one_test(twerr_proxy, record):
    proxy = twerr_proxy()
    record(proxy)
    proxy.inject(":~u /2/tweets:187")
    assert len(proxy.command("twerr.rules")) == 1


def test_is_gone_in_the_next(twerr_proxy, record):
    proxy = twerr_proxy()
    record(proxy)
    assert proxy.command("twerr.rules") == ["twerr: no injection rules"]
    assert proxy.flows == []


@pytest.mark.twerr(inject=[":~u /1.1/statuses/show:http503"], seed=7)
def test_the_marker_sets_the_proxy_up(twerr_proxy, v1, record):
    record(twerr_proxy)
    with pytest.raises(tweepy.TwitterServerError):
        v1(twerr_proxy).get_status(1)  # no upstream: the fault answers, nothing goes out
    [flow] = twerr_proxy.flows
    assert flow.metadata["twerr"]["injected"]["fault"] == "http503"


def test_bad_arguments_are_refused_with_the_reason(twerr_proxy):
    with pytest.raises(TypeError, match="unknown argument 'sede'"):
        twerr_proxy(sede=42)
    with pytest.raises(ValueError, match="upstream must be"):
        twerr_proxy(upstream="127.0.0.1:8000")
    with pytest.raises(ProxyError, match="Cannot parse twerr_inject option"):
        twerr_proxy(inject=[":~u /2/tweets:no-such-fault"])
