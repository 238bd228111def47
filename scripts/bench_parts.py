"""Where twerr's instructions go: its cost per flow, component by component, under callgrind.

Usage: scripts/bench-parts [FLOWS]   (runs itself under valgrind; FLOWS per step, default 300)

scripts/bench --instructions says how much twerr costs a whole mitmdump; this says which part
of twerr it is. One process builds twerr's components (no proxy, no sockets) and runs the same
flows through a growing chain of them, and callgrind counts the instructions of each step alone
(switched on around it, by callgrind_control on its own process). A step's cost less the step
before it is what that component adds. Two kinds of flow: a plain v1.1 success from a new
client each time, and one client hammering a spent 429/88 window (every flow an error with an
audit finding), the two ends of what twerr does to a flow.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests")]

from mitmproxy import http  # noqa: E402

import corpus  # noqa: E402
from twerr import mitm  # noqa: E402
from twerr import record  # noqa: E402
from twerr.classify import annotate  # noqa: E402
from twerr.components import build  # noqa: E402
from twerr.decode import decode  # noqa: E402

Step = Callable[[http.HTTPFlow], object]


def flows(kind: str, count: int, start: float = 1_767_225_600.0) -> list[http.HTTPFlow]:
    samples = {sample.id: sample for sample in corpus.load().responses}
    made = []
    for i in range(count):
        sample = samples["v1.1-88-rate-limit" if kind == "hammer" else "v1.1-success-gzip"]
        flow = corpus.make_flow(sample)
        who = "hammer" if kind == "hammer" else f"client{i}"
        flow.request.headers["authorization"] = f"Bearer AAAAAAAAAAAAAAAAAAAAA{who}"
        if kind == "hammer":  # a reset 15 minutes ahead: every retry is early
            flow.response.headers["x-rate-limit-reset"] = str(int(start) + 900)
        for message, offset in ((flow.request, 0.0), (flow.response, 0.1)):
            message.timestamp_start = start + i * 0.5 + offset
            message.timestamp_end = message.timestamp_start + 0.01
        flow.live = True
        made.append(flow)
    return made


def steps() -> dict[str, Step]:
    """Each step runs what the one before it ran, and one more part of twerr."""
    parts = build()
    scope = parts.scope

    def decoded(flow: http.HTTPFlow) -> object:
        assert flow.response is not None
        return decode(flow.response.status_code, flow.response.headers.fields,
                      flow.response.raw_content, path=flow.request.path)  # fmt: skip

    def classify_alone(flow: http.HTTPFlow) -> object:
        return scope(flow) and annotate(flow, decoded(flow))  # type: ignore[arg-type]

    def with_audit(flow: http.HTTPFlow) -> object:
        meta = classify_alone(flow)
        parts.audit.classified(flow, meta)  # type: ignore[arg-type]
        return meta

    return {
        "nothing (the loop)": lambda flow: None,
        "scope": scope,
        "+ decode": lambda flow: scope(flow) and decoded(flow),
        "+ record (of_decoded)": lambda flow: (
            scope(flow) and record.of_decoded(decoded(flow), mitm.endpoint(flow))
        ),  # type: ignore[arg-type]
        "+ annotate (comment, marker)": classify_alone,
        "+ audit": with_audit,
        "classifier (+ report, log)": parts.classifier.response,
        "twerr's hooks, all": lambda flow: _hooks(parts, flow),
    }


def _hooks(parts: object, flow: http.HTTPFlow) -> None:
    """What Twerr's hooks do for a flow without rules, in order (no mitmproxy dispatch)."""
    from twerr.components import Components

    assert isinstance(parts, Components)
    response, flow.response = flow.response, None
    parts.injector.requestheaders(flow)
    parts.injector.request(flow)
    flow.response = response
    parts.streams.responseheaders(flow)
    parts.injector.responseheaders(flow)
    parts.injector.response(flow)
    parts.classifier.response(flow)


def counted(run: Callable[[], None], out: Path) -> int:
    pid = str(os.getpid())
    before = set(out.parent.glob(f"callgrind.{pid}.*"))
    subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
    run()
    subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
    (dump,) = set(out.parent.glob(f"callgrind.{pid}.*")) - before
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def measure(count: int, out: Path) -> None:
    logging.getLogger("twerr").setLevel(logging.INFO)  # the log lines are made, as in mitmdump
    logging.getLogger().addHandler(logging.NullHandler())
    print(f"instructions per flow (thousands), {count} flows a step, by callgrind")
    print(f"{'step':32} {'success':>9} {'+':>7} {'hammer':>9} {'+':>7}")
    rows: dict[str, list[float]] = {}
    for kind in ("success", "hammer"):
        previous = 0.0
        for name, step in steps().items():  # fresh components for each kind
            warm, batch = flows(kind, 50, 1_700_000_000.0), flows(kind, count)
            for flow in warm:
                step(flow)
            total = counted(lambda step=step, batch=batch: [step(f) for f in batch] and None, out)
            per_flow = total / count / 1000
            rows.setdefault(name, []).extend([per_flow, per_flow - previous])
            previous = per_flow
    for name, (success, s_added, hammer, h_added) in rows.items():
        print(f"{name:32} {success:9.1f} {s_added:+7.1f} {hammer:9.1f} {h_added:+7.1f}")


def main(args: list[str]) -> None:
    count = int(args[0]) if args else 300
    if os.environ.get("TWERR_UNDER_CALLGRIND"):
        measure(count, Path(os.environ["TWERR_UNDER_CALLGRIND"]))
        return
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("scripts/bench-parts needs valgrind (callgrind_control) on the PATH")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.%p"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={out}", sys.executable, __file__, str(count)]  # fmt: skip
        env = {**os.environ, "TWERR_UNDER_CALLGRIND": str(out)}
        subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main(sys.argv[1:])
