"""twerr.testing.proxy(), the context manager for scripts and other runners: offline replay
with twerr's faults on top, a child process routed by `env`, a proxy that cannot start, and
one whose test process dies."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tweepy

from fakeapi import FakeApi
from processes import still_running
from proxied import BEARER
from proxied import TOKENS
from twerr.testing import ProxyError
from twerr.testing import proxy

pytestmark = pytest.mark.e2e
ADDON = Path(__import__("twerr").__file__).parents[1]


@pytest.fixture
def clients(monkeypatch):
    """v1(proxy) and v2(proxy): tweepy clients through a proxy, closed at the end."""
    sessions = []

    def v1(p) -> tweepy.API:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", p.ca_path)
        api = tweepy.API(tweepy.OAuth1UserHandler(*TOKENS.values()), proxy=p.url)
        sessions.append(api.session)
        return api

    def v2(p) -> tweepy.Client:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", p.ca_path)
        monkeypatch.setenv("HTTPS_PROXY", p.url)  # tweepy.Client has no proxy setting
        client = tweepy.Client(bearer_token=BEARER)
        sessions.append(client.session)
        return client

    yield v1, v2
    for session in sessions:
        session.close()


def test_replay_answers_offline_with_faults_windows_and_the_wallet(tmp_path, clients):
    v1, v2 = clients
    session = tmp_path / "session.mitm"
    with FakeApi() as api, proxy(upstream=f"http://127.0.0.1:{api.port}") as recording:
        client = v1(recording)
        client.update_status("hello")
        client.get_status(1)
        v2(recording).get_tweet(1445880548472328192)
        recording.save(session)
    asked = len(api.requests)
    assert asked == 3  # the double is shut now: the replay has nothing else to ask

    with proxy(replay=session, inject=[":~u /1.1/statuses/update:187"], credits="0.001") as p:
        client = v1(p)
        with pytest.raises(tweepy.Forbidden) as raised:  # a fault, though the recording has it
            client.update_status("hello")
        assert raised.value.api_codes == [187]
        p.inject(":~u /1.1/statuses/show:88:ratelimit=2/60")
        assert client.get_status(1).text == "hello"  # the recording, twice (reused)
        assert client.get_status(1).text == "hello"
        with pytest.raises(tweepy.TooManyRequests):  # then the emulated window is spent
            client.get_status(1)
        reader = v2(p)
        reader.get_tweet(1445880548472328192)  # charged to the wallet, which it empties
        with pytest.raises(tweepy.HTTPException) as spent:
            reader.get_tweet(1445880548472328192)
        assert spent.value.response.status_code == 402
        with pytest.raises(tweepy.TweepyException):  # not in the recording: killed, not sent
            client.get_user(screen_name="twitterdev")
        statuses = [f.response.status_code if f.response else "killed" for f in p.flows]
        log = p.log_path.read_text()
    assert "POST api.twitter.com/1.1/statuses/update.json → 403 187" in log  # twerr's lines
    for secret in (*TOKENS.values(), BEARER):  # no credential in the proxy's output
        assert secret not in log
    assert statuses == [403, 200, 200, 429, 200, 402, "killed"]
    assert len(api.requests) == asked


def test_env_routes_a_child_process_through_the_proxy():
    child = (
        "import requests; r = requests.get('https://api.x.com/2/tweets/1'); "
        "print(r.status_code, r.json()['title'])"
    )
    with proxy(inject=[":~u /2/tweets:http503"]) as p:
        done = subprocess.run(
            [sys.executable, "-c", child], env=p.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == "503"
        [flow] = p.flows
        assert flow.metadata["twerr"]["injected"]["fault"] == "http503"
        p.set(inject=[":~u /2/tweets:http429"], time_scale=60)  # options, as the proxy runs
        again = subprocess.run(
            [sys.executable, "-c", child], env=p.env, capture_output=True, text=True, timeout=60
        )
        assert again.stdout.split()[0] == "429"
        with pytest.raises(ValueError, match="no_such_option"):
            p.set(no_such_option=1)
        with pytest.raises(ValueError, match="this twerr has no scenarios"):
            p.scenario("monday-morning")
    assert set(p.client_env) >= {"HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"}
    assert p.client_env["NODE_EXTRA_CA_CERTS"] == p.ca_path


def test_a_proxy_that_cannot_start_says_why_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with (
        pytest.raises(ProxyError, match="Cannot parse twerr_inject option ':~u /2/tweets:nope'"),
        proxy(inject=[":~u /2/tweets:nope"]),
    ):
        pass
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone too


def test_the_proxy_stops_when_its_test_process_dies():
    """However the test process ends (here: SIGKILL, no teardown at all), its proxy goes."""
    script = (
        "import json, os, signal, sys; from twerr.testing import proxy\n"
        "with proxy() as p:\n"
        "    print(json.dumps([p.pid, p.port]), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ADDON)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    pid, port = json.loads(done.stdout)
    assert not still_running(pid, port, seconds=10)


def test_a_silent_control_connection_is_closed_and_others_are_served():
    import socket
    import time

    from twerr.testing.control import REQUEST_SECONDS

    with proxy() as p:
        port = p._control[0]  # the handle's own control port
        with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_SECONDS + 5) as idle:
            p.inject(":~u /2/tweets:187")  # served meanwhile
            started = time.monotonic()
            assert idle.recv(1) == b""  # the proxy closed it: it sent no request
            assert time.monotonic() - started <= REQUEST_SECONDS + 2
        assert "closed a control connection that sent no request" in p.log_tail(50)
