"""twerr's pytest plugin, registered through the `pytest11` entry point: installing twerr is
enough.

    def test_bot_survives_a_duplicate(twerr_proxy, fake_api_url):
        proxy = twerr_proxy(upstream=fake_api_url, inject=[":~u /1.1/statuses/update:187"])
        ...
        proxy.assert_no_findings()

`twerr_proxy(**arguments)` starts a twerr proxy (a `twerr dump` process on a free port) and
returns its handle (twerr/testing/handle.py); every proxy a test started is stopped when it
ends, passed or failed. `@pytest.mark.twerr(**arguments)` gives the arguments every call in the
test starts from; with it, the fixture can also be used as the handle itself
(`twerr_proxy.url`), a proxy with the marker's arguments started on first use.

Importing this module imports neither mitmproxy nor the rest of twerr: suites that do not use
the fixture pay nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pluggy
import pytest

if TYPE_CHECKING:
    from twerr.testing.handle import TwerrProxy

MARKER = "twerr"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**arguments): the arguments of the twerr proxies the test starts with the "
        "twerr_proxy fixture (upstream=, replay=, inject=, seed=, any twerr option)",
    )


class ProxyFactory:
    """What the `twerr_proxy` fixture gives: call it for a proxy; use it as one for the proxy
    that the test's `twerr` marker describes."""

    def __init__(self, defaults: dict[str, Any], workdirs: Iterator[Path], confdir: Path) -> None:
        self.defaults = defaults
        self.workdirs = workdirs
        self.confdir = confdir
        self.started: list[TwerrProxy] = []
        self._default: TwerrProxy | None = None

    def __call__(self, **arguments: Any) -> TwerrProxy:
        """A new proxy: the marker's arguments, updated with these."""
        from twerr.testing.handle import TwerrProxy

        given = {"confdir": self.confdir, **self.defaults, **arguments}
        proxy = TwerrProxy(next(self.workdirs), **given)
        self.started.append(proxy)
        return proxy.start()

    def __getattr__(self, name: str) -> Any:
        from twerr.testing.handle import TwerrProxy

        public = name in TwerrProxy.__annotations__ or hasattr(TwerrProxy, name)
        if name.startswith("_") or not public:
            raise AttributeError(f"twerr_proxy has no attribute {name!r}")
        if self._default is None:
            self._default = self()
        return getattr(self._default, name)

    def stop(self) -> None:
        for proxy in reversed(self.started):
            proxy.stop()


@pytest.fixture(scope="session")
def twerr_confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mitmproxy's confdir for the session's twerr proxies: one CA, made once."""
    return tmp_path_factory.mktemp("twerr-confdir")


@pytest.fixture
def twerr_proxy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, twerr_confdir: Path
) -> Iterator[ProxyFactory]:
    """Start twerr proxies: `twerr_proxy(upstream=..., inject=[...], seed=42)`. Each is stopped
    when the test ends. See twerr.testing."""
    defaults: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # the closest one wins
        if marker.args:
            raise TypeError("@pytest.mark.twerr takes keyword arguments only")
        defaults.update(marker.kwargs)
    workdirs = (tmp_path_factory.mktemp("twerr-proxy") for _ in itertools.count())
    factory = ProxyFactory(defaults, workdirs, twerr_confdir)
    request.node.stash[_FACTORY] = factory
    try:
        yield factory
    finally:
        factory.stop()


_FACTORY = pytest.StashKey[ProxyFactory]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    """A failed test's report gets, per proxy it started, twerr's report and the proxy's log."""
    outcome = yield
    report = outcome.get_result()
    factory = item.stash.get(_FACTORY, None)
    if factory is not None and report.when == "call" and report.failed:
        for proxy in factory.started:
            if not proxy.running:
                continue
            try:
                text = str(proxy.command("twerr.report"))
            except Exception as e:  # the report of a failure must not fail
                text = f"(no report: {e})"
            report.sections.append((f"twerr proxy {proxy.url}", f"{text}\n\nlog: {proxy.log_path}"))
