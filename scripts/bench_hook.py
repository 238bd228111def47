"""Microbenchmark: twerr's cost per flow inside mitmproxy, without sockets or HTTP parsing.

Usage: scripts/bench-hook [FLOWS_PER_SHAPE]   (default 2000; the median of 5 rounds is printed)

1. Through mitmproxy's addon manager: a DumpMaster with all of mitmdump's addons delivers the
   four events of a flow (requestheaders, request, responseheaders, response), each followed by
   the `update` event mitmproxy's proxy server sends after it, to a no-op script, to twerr
   (`addon/twerr_addon.py`) and to twerr with 20 injection rules that match nothing.
   The table gives the no-op's µs per flow and what twerr adds to it: all of twerr's work,
   mitmproxy's cost of calling its hooks included. Each flow comes from a client of its own.
   `flow_detail` is 0, as in scripts/bench: mitmdump prints no line per flow, twerr its line
   per error flow.
2. The classifier's response hook alone, per response shape (and for a 5 MB success body), in
   µs per flow: by itself (decoding, annotating, its log line), with the audit or the report
   that follow it, and with both (as in twerr).
"""

import asyncio
import itertools
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests"), str(ROOT / "scripts")]

from bench import NON_MATCHING  # noqa: E402
from bench import big_success  # noqa: E402
from mitmproxy import hooks  # noqa: E402
from mitmproxy import http  # noqa: E402
from mitmproxy import options  # noqa: E402
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook  # noqa: E402
from mitmproxy.proxy.layers.http import HttpRequestHook  # noqa: E402
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook  # noqa: E402
from mitmproxy.proxy.layers.http import HttpResponseHook  # noqa: E402
from mitmproxy.tools.dump import DumpMaster  # noqa: E402

import corpus  # noqa: E402
from twerr.audit.audit import Audit  # noqa: E402
from twerr.classify import Classifier  # noqa: E402
from twerr.report.reporter import Reporter  # noqa: E402
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
SCRIPTS = {
    "no-op": (ROOT / "scripts" / "bench_noop.py", []),
    "twerr": (ROOT / "addon" / "twerr_addon.py", []),
    "+20 rules": (ROOT / "addon" / "twerr_addon.py", NON_MATCHING),
}
ROUNDS = 5


CLOCK = itertools.count()


def make_flows(sample: corpus.Sample, count: int) -> list[http.HTTPFlow]:
    """Each flow from a client of its own, a second after the one before (so the audit
    forgets errors as it would in a live session: after 15 minutes of flows)."""
    flows = []
    for _ in range(count):
        tick = next(CLOCK)
        flow = corpus.make_flow(sample)
        flow.request.headers["authorization"] = f"Bearer client{tick}"
        for message in (flow.request, flow.response):
            message.timestamp_start += tick
            message.timestamp_end += tick
        flow.live = True
        flows.append(flow)
    return flows


async def start(script: Path, rules: list[str], confdir: str) -> DumpMaster:
    logging.getLogger().setLevel(logging.DEBUG)  # as mitmdump sets it
    master = DumpMaster(options.Options(), with_termlog=True, with_dumper=True)
    master.options.update(confdir=confdir, flow_detail=0, scripts=[str(script)])
    await asyncio.sleep(1.5)  # mitmproxy loads scripts on a later turn of its watcher
    if rules:
        master.options.update(twerr_inject=rules)
    await master.addons.trigger_event(hooks.RunningHook())
    return master


async def through(master: DumpMaster, flows: list[http.HTTPFlow]) -> float:
    """µs per flow for the four events of each flow (and their `update` events); each flow is
    let go once done, as in mitmdump."""
    pending = [(flow, flow.response) for flow in reversed(flows)]
    for flow in flows:
        flow.response = None
    flows.clear()
    # as mitmproxy's proxy server does: each event, then an `update` event for its flow
    count, trigger = len(pending), master.addons.handle_lifecycle
    begin = time.perf_counter()
    while pending:
        flow, response = pending.pop()
        await trigger(HttpRequestHeadersHook(flow))
        await trigger(HttpRequestHook(flow))
        flow.response = response
        await trigger(HttpResponseHeadersHook(flow))
        await trigger(HttpResponseHook(flow))
    return (time.perf_counter() - begin) / count * 1e6


async def measure(name: str, count: int) -> dict[str, float]:
    """One configuration's median µs per flow for each shape, in this process."""
    samples = {sample.id: sample for sample in corpus.load().responses}
    script, rules = SCRIPTS[name]
    costs: dict[str, list[float]] = {sample_id: [] for sample_id in SHAPES}
    with tempfile.TemporaryDirectory() as confdir:
        master = await start(script, rules, confdir)
        for _ in range(ROUNDS):
            for sample_id in SHAPES:
                flows = make_flows(samples[sample_id], count)
                costs[sample_id].append(await through(master, flows))
        master.shutdown()
    return {sample_id: statistics.median(rounds) for sample_id, rounds in costs.items()}


def bench_masters(count: int) -> None:
    """Each configuration in a process of its own, so that each starts from the same state
    (mitmproxy's `ctx` holds one master per process, and memory left by one would cost the
    next)."""
    costs = {}
    for name in SCRIPTS:
        command = [sys.executable, __file__, "--one", name, str(count)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        costs[name] = json.loads(output.splitlines()[-1])
    header = f"{'through mitmproxy (µs/flow)':28} {'no-op':>7} {'twerr':>7} {'+20 rules':>9}"
    print(header + f" {'twerr/no-op':>11} {'rules/no-op':>11}")
    for sample_id in SHAPES:
        base, ours, ruled = (costs[name][sample_id] for name in SCRIPTS)
        print(
            f"{sample_id:28} {base:7.1f} {ours - base:+7.1f} {ruled - base:+9.1f}"
            f" {ours / base:11.3f} {ruled / base:11.3f}"
        )


FOLLOWERS = {  # the response hook's columns: the classifier, then what follows it
    "classify": (),
    "+audit": (Audit,),
    "+report": (Reporter,),
    "all": (Audit, Reporter),
}


def bench_response_hook(samples: dict[str, corpus.Sample], count: int) -> None:
    costs = {name: hook_alone(samples, count, kinds) for name, kinds in FOLLOWERS.items()}
    print(f"\n{'response hook (µs/flow)':28}" + "".join(f" {name:>9}" for name in FOLLOWERS))
    for shape in costs["classify"]:
        print(f"{shape:28}" + "".join(f" {costs[name][shape]:9.1f}" for name in FOLLOWERS))


def hook_alone(
    samples: dict[str, corpus.Sample], count: int, kinds: tuple[type[Audit | Reporter], ...]
) -> dict[str, float]:
    """The classifier's response hook with these followers: median µs per flow, by shape."""
    followers = [kind() for kind in kinds]
    classifier = Classifier(Scope(), followers=followers)
    status, headers, body = big_success()
    costs = {}
    # plain components: no mitmproxy master around them
    for name in [*SHAPES, "5 MB JSON success"]:
        rounds = []
        for _ in range(ROUNDS):
            if name in samples:
                flows = make_flows(samples[name], count)
            else:
                flows = make_flows(samples["v2-success-gzip"], 10)
                for flow in flows:
                    flow.response = http.Response.make(status, body, dict(headers))
            begin = time.perf_counter()
            for flow in flows:
                classifier.response(flow)
            rounds.append((time.perf_counter() - begin) / len(flows) * 1e6)
        costs[name] = statistics.median(rounds)
    return costs


def main(args: list[str]) -> None:
    if args[:1] == ["--one"]:
        print(json.dumps(asyncio.run(measure(args[1], int(args[2])))))
        return
    count = int(args[0]) if args else 2000
    bench_masters(count)
    bench_response_hook({sample.id: sample for sample in corpus.load().responses}, count)


if __name__ == "__main__":
    main(sys.argv[1:])
