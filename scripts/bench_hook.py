"""Microbenchmark: the classifier's response hook per response shape, alone and with the
audit's and the report's after it, and the injector's request and response hooks (no rules;
20 rules that do not match), in µs per flow.

Usage: scripts/bench-hook [FLOWS_PER_SHAPE]   (default 3000; the median of 5 rounds is printed)
"""

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests"), str(ROOT / "scripts")]

from bench import NON_MATCHING  # noqa: E402
from mitmproxy import http  # noqa: E402
from mitmproxy.test import taddons  # noqa: E402

import corpus  # noqa: E402
from twerr.audit import Audit  # noqa: E402
from twerr.classify import Classifier  # noqa: E402
from twerr.inject import Injector  # noqa: E402
from twerr.reporter import Reporter  # noqa: E402
from twerr.scope import Scope  # noqa: E402

SHAPES = [
    "v1.1-success-gzip",
    "v2-success-gzip",
    "v1.1-187-duplicate",
    "v1.1-88-rate-limit",
    "v2-partial-not-found",
    "v2-429-app-24h-cap",
    "html-over-capacity",
]


async def settled(result: Awaitable[None] | None) -> None:
    """A hook's result, awaited when it is a coroutine (as mitmproxy does)."""
    if result is not None:
        await result


def per_flow(
    hooks: list[Callable[[http.HTTPFlow], None]], sample: corpus.Sample, count: int
) -> float:
    flows = [corpus.make_flow(sample) for _ in range(count)]
    for i, flow in enumerate(flows):  # each from a client of its own: judged, nothing found
        flow.request.headers["authorization"] = f"Bearer client{i}"
    start = time.perf_counter()
    for flow in flows:
        for hook in hooks:
            hook(flow)
    return (time.perf_counter() - start) / count


def injector_per_flow(injector: Injector, sample: corpus.Sample, count: int) -> float:
    flows = [corpus.make_flow(sample) for _ in range(count)]
    for flow in flows:
        flow.live = True
        flow.response = None  # as at the request hook

    async def run() -> float:
        start = time.perf_counter()
        for flow in flows:
            await settled(injector.request(flow))
            await settled(injector.response(flow))
        return (time.perf_counter() - start) / count

    return asyncio.run(run())


def bench_injector(sample: corpus.Sample, count: int) -> None:
    scope = Scope()
    injector = Injector(scope)
    for label, rules in (("no rules", []), ("20 rules, none match", NON_MATCHING)):
        with taddons.context(scope, injector) as tctx:
            tctx.configure(injector, twerr_inject=rules, twerr_seed=1)
            rounds = [injector_per_flow(injector, sample, count) for _ in range(5)]
        print(f"{'injector, ' + label:28} {statistics.median(rounds) * 1e6:8.1f}")


def main(count: int) -> None:
    samples = {sample.id: sample for sample in corpus.load().responses}
    classifier, audit, reporter = Classifier(Scope()), Audit(), Reporter()
    alone = [classifier.response]
    together = [classifier.response, audit.response, reporter.response]
    with taddons.context(classifier.scope, classifier, audit, reporter):
        print(f"{'response':28} {'classify':>8} {'+audit+report':>14}  (µs/flow)")
        for sample_id in SHAPES:
            costs = [
                statistics.median(per_flow(hooks, samples[sample_id], count) for _ in range(5))
                for hooks in (alone, together)
            ]
            print(f"{sample_id:28} {costs[0] * 1e6:8.1f} {costs[1] * 1e6:14.1f}")
    bench_injector(samples["v2-success-gzip"], count)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
