import pytest

from processes import Mitmdump


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
