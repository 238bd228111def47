"""200 concurrent clients through a real mitmdump with injection: exact counts, no errors,
bounded memory."""

import http.client
import random
import re
import threading
from collections import Counter
from pathlib import Path

import pytest

from processes import SCRIPT
from upstream import Upstream
from upstream import fixed

pytestmark = pytest.mark.e2e

CLIENTS = 200
CREDENTIALS = 20  # clients share them: 10 clients per bearer token
TIMELINE_CALLS = 3  # per client, on the rate-limited endpoint
WINDOW = 4  # requests a credential may make per window
PROBABLE_CALLS = 2  # per client, on the endpoint with p=
P, SEED, TIMES = 0.3, 1234, 50
RULES = [
    f":~u /1.1/statuses/update:187:times={TIMES}",
    f":~u /2/tweets/search/recent:130:p={P}",
    f":~u /1.1/statuses/user_timeline:88:ratelimit={WINDOW}/3600",
]
OK = b'{"id":1,"text":"hello"}'


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def client(port: int, index: int, barrier: threading.Barrier, results: list) -> None:
    token = f"AAAAAAAAAAAAAAAAAAAAAloadTestBearer{index % CREDENTIALS:04d}"
    headers = {"host": "api.twitter.com", "authorization": f"Bearer {token}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    barrier.wait()
    calls = [("POST", "/1.1/statuses/update.json")]
    calls += [("GET", "/2/tweets/search/recent?query=x")] * PROBABLE_CALLS
    calls += [("GET", "/1.1/statuses/user_timeline.json")] * TIMELINE_CALLS
    for method, path in calls:
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            response.read()
            results.append((index, path.split("?")[0], response.status))
        except Exception as e:
            results.append((index, path, repr(e)))
    connection.close()


def run_clients(port: int) -> list:
    barrier = threading.Barrier(CLIENTS)
    results: list = []
    threads = [
        threading.Thread(target=client, args=(port, i, barrier, results)) for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_hundred_clients_get_exact_counts(mitmdump):
    routes = {
        path: fixed(200, [("content-type", "application/json")], OK)
        for path in (
            "/1.1/statuses/update.json",
            "/2/tweets/search/recent",
            "/1.1/statuses/user_timeline.json",
        )
    }
    with Upstream(routes) as upstream:
        proxy = mitmdump(
            "--mode",
            f"reverse:http://127.0.0.1:{upstream.port}",
            "--set",
            "keep_host_header=true",
            "--set",
            f"twerr_seed={SEED}",
            # 200 clients keep up to 200 faults in progress: above the default cap of 100,
            # faults would be skipped (by design, and counted as skipped in the summary)
            "--set",
            "twerr_max_faults=1000",
            *[arg for rule in RULES for arg in ("--set", f"twerr_inject={rule}")],
            "-s",
            str(SCRIPT),
            "--flow-detail",
            "0",
        )
        # a warm-up round opens what a run opens once (connections, imports, caches)
        warm = run_clients_on(proxy.port, "/2/warm")
        before = rss_kib(proxy.process.pid)
        results = run_clients(proxy.port)
        after = rss_kib(proxy.process.pid)
        output = proxy.stop()
    assert warm == [404] * CLIENTS
    failures = [r for r in results if not isinstance(r[2], int)]
    assert not failures, failures[:5]
    assert len(results) == CLIENTS * (1 + PROBABLE_CALLS + TIMELINE_CALLS)
    by_path = {path: Counter() for path in routes}
    for _, path, status in results:
        by_path[path][status] += 1
    # times=50: exactly 50 injected, across all clients
    assert by_path["/1.1/statuses/update.json"] == {403: TIMES, 200: CLIENTS - TIMES}
    # p=0.3 with a seed: as many as the seed's first draws below p, whatever the order
    rng = random.Random(SEED)
    expected = sum(rng.random() < P for _ in range(CLIENTS * PROBABLE_CALLS))
    assert by_path["/2/tweets/search/recent"] == {
        503: expected,
        200: CLIENTS * PROBABLE_CALLS - expected,
    }
    # a window of 4 per credential: exactly 4 passes for each of the 20 tokens, then 429s
    calls = CLIENTS * TIMELINE_CALLS
    assert by_path["/1.1/statuses/user_timeline.json"] == {
        200: CREDENTIALS * WINDOW,
        429: calls - CREDENTIALS * WINDOW,
    }
    assert "Traceback" not in output and "Addon error" not in output and "failed" not in output
    assert f"{TIMES} injected of {CLIENTS} matched [spent]" in output
    assert f"{expected} injected of {CLIENTS * PROBABLE_CALLS} matched [active]" in output
    passes = CREDENTIALS * WINDOW
    assert (
        f"{calls - passes} injected of {calls} matched, {passes} skipped (within the window)"
        in output
    )
    assert "twerr_max_faults reached" not in output
    growth = after - before
    print(
        f"\nload: {len(results)} requests from {CLIENTS} clients; mitmdump RSS "
        f"{before / 1024:.1f} -> {after / 1024:.1f} MiB ({growth / 1024:+.1f} MiB)"
    )
    assert growth < 64 * 1024, f"RSS grew {growth} KiB over {len(results)} requests"


def run_clients_on(port: int, path: str) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("GET", path, headers={"host": "api.twitter.com"})
        status = connection.getresponse().status
        connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses
