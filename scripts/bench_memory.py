"""Memory check: the process's RSS while 200,000 flows pass through twerr's hooks.

Usage: scripts/bench-memory [FLOWS]   (default 200000)

The flows go through the scope, the injector (20 rules, one of them an emulated rate-limit
window keyed by endpoint and credential, with a new credential every 50 flows), the
classifier, the audit (which remembers each credential's errors) and the report, as mitmproxy
calls them, over a mix of reference responses. RSS is read from /proc
after a warm-up of 10,000 flows and then every 50,000; the growth after the warm-up is what
twerr keeps per flow (state that should be bounded) plus allocator noise.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests"), str(ROOT / "scripts")]

from bench import NON_MATCHING  # noqa: E402
from bench import rss_mib  # noqa: E402
from mitmproxy import http  # noqa: E402
from mitmproxy.test import taddons  # noqa: E402

import corpus  # noqa: E402
from twerr.addon import Twerr  # noqa: E402
from twerr.inject.windows import MAX_WINDOWS  # noqa: E402

WARM_UP = 10_000
MIX = ["v1.1-187-duplicate", "v2-success-gzip", "v1.1-88-rate-limit", "v2-partial-not-found"]


async def settled(result: Awaitable[None] | None) -> None:
    """A hook's result, awaited when it is a coroutine (as mitmproxy does)."""
    if result is not None:
        await result


def flow_maker(sample: corpus.Sample) -> Callable[[int], http.HTTPFlow]:
    """Cheap fresh flows for a sample (corpus.make_flow is exact but too slow for 200,000)."""
    template = corpus.make_flow(sample)
    headers = [(k.encode(), v.encode()) for k, v in sample.response_headers(corpus.load().presets)]
    body = sample.raw_body

    def make(n: int) -> http.HTTPFlow:
        flow = http.HTTPFlow(template.client_conn, template.server_conn, live=True)
        flow.request = http.Request.make(
            sample.method, sample.url, b"", {"authorization": f"Bearer token-{n // 50}"}
        )
        flow.response = http.Response.make(sample.status, b"", headers)
        flow.response.raw_content = body
        return flow

    return make


async def run(count: int) -> list[tuple[int, float]]:
    samples = {s.id: s for s in corpus.load().responses}
    makers = [flow_maker(samples[sample_id]) for sample_id in MIX]
    twerr = Twerr()
    injector, audit = twerr.parts.injector, twerr.parts.audit
    readings = []
    with taddons.context(twerr) as tctx:
        rules = [*NON_MATCHING[:19], ":~u user_timeline:88:ratelimit=100/900"]
        tctx.configure(twerr, twerr_inject=rules, twerr_seed=1)
        for n in range(1, count + 1):
            flow = makers[n % len(makers)](n)
            response, flow.response = flow.response, None
            start = 1.0e9 + n * 0.05  # 20 requests a second, answered 10 ms later
            flow.request.timestamp_start = start
            twerr.requestheaders(flow)
            await settled(twerr.request(flow))
            if flow.response is None:
                flow.response = response
            flow.response.timestamp_start = flow.response.timestamp_end = start + 0.01
            await settled(twerr.response(flow))
            if n in (WARM_UP, count) or (n > WARM_UP and n % 50_000 == 0):
                gc.collect()
                readings.append((n, rss_mib_self()))
        assert not injector.pending and not injector.active, "state left behind"
        readings.append((-1, len(injector.windows)))
        readings.append((-2, len(audit.tracker)))
    return readings


def rss_mib_self() -> float:
    return rss_mib(os.getpid())


def main(count: int) -> None:
    readings = asyncio.run(run(count))
    *rss, (_, windows), (_, remembered) = readings
    for n, mib in rss:
        print(f"after {n:>7} flows: RSS {mib:6.1f} MiB")
    growth = rss[-1][1] - rss[0][1]
    print(f"growth after the warm-up: {growth:+.1f} MiB over {rss[-1][0] - WARM_UP} flows")
    print(f"rate-limit windows kept: {windows} (at most {MAX_WINDOWS})")
    print(f"audit entries kept: {remembered} (errors older than twerr_audit_memory are dropped)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
