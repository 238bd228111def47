import time

import pytest

from fakeapi import FakeApi
from processes import Mitmdump
from proxied import Session
from proxied import mitmdump_args


@pytest.fixture
def mitmdump(tmp_path):
    started: list[Mitmdump] = []

    def start(*args: str) -> Mitmdump:
        proxy = Mitmdump(tmp_path, *args)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def session(mitmdump, monkeypatch):
    """start(*inject_specs, options=(...)): a fake API behind a mitmdump with twerr, and the
    environment set so that requests-based clients go through it."""
    started: list[FakeApi] = []

    def start(*inject: str, options: tuple[str, ...] = ()) -> Session:
        api = FakeApi().__enter__()
        started.append(api)
        proxy = mitmdump(*mitmdump_args(f"http://127.0.0.1:{api.port}", inject, options))
        ca = proxy.confdir / "mitmproxy-ca-cert.pem"
        for _ in range(100):
            if ca.exists():
                break
            time.sleep(0.05)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        return Session(api, proxy)

    yield start
    for api in started:
        api.__exit__(None, None, None)
