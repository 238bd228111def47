"""Benchmark: mitmdump's own CPU time per flow with twerr, beside bare mitmdump, in one run.

Usage: scripts/bench [--quick] [--instructions]

Four proxies run side by side in reverse mode in front of one local fake API on 127.0.0.1:
bare mitmdump, mitmdump with a no-op script addon (the floor any script costs), twerr
classifying only, and twerr with 20 injection rules that match nothing. Rounds alternate
between them (the order rotates each round); for each workload a round sends the same requests
through each proxy and reads the proxy process's CPU time (user + system, from /proc) before and
after, so the load generator's own work does not count. The table gives CPU µs per flow and
the ratios twerr/no-op and twerr/bare as the median over rounds, with their spread (min-max).

CPU time on a shared machine varies by ±15% from round to round, more than the 2% the targets
ask about. `--instructions` counts instead what each mitmdump executes per flow, under
valgrind's callgrind (switched on only around each batch): the same figure on every run, to
a fraction of a percent, but user space only (the kernel's share of a flow is not counted) and
about 50 times slower, so it sends fewer flows, in three rounds. Three, because a batch of
60 flows is too short to spread Python's full garbage collections over: one of them (about
30 M instructions in twerr's process, which holds 11,000 more objects than the no-op's)
lands in some batch or other and adds 500 k to each of its flows. The median of three
rounds leaves such a batch out; the min-max spread shows it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests")]

import corpus  # noqa: E402
from fakeapi import SAMPLE_HEADER  # noqa: E402
from fakeapi import SPENT_WINDOW  # noqa: E402
from fakeapi import FakeApi  # noqa: E402
from fakeapi import Reference  # noqa: E402
from fakeapi import epoch  # noqa: E402
from processes import Mitmdump  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
NON_MATCHING = [f":~u /2/nowhere/{i} & ~m POST:{(88, 130, 187)[i % 3]}:p=0.5" for i in range(20)]
BIG = 5 * 1024 * 1024
# an app-only bearer token, made up but shaped like a real one
BEARER = (
    "AAAAAAAAAAAAAAAAAAAAAJq8bQEAAAAAtwErRbEnChm4rK0nLyTeSt%2FTok3n%3D"
    "Qx7vN2pL9sD4fH6jK8mZ1cV3bR5tY0uW2eA4gI6oP8qS0dF"
)


def big_success() -> Reference:
    """A 5 MB v2 JSON success: many tweets, as a large timeline page is."""
    tweet = {"id": "1460323737035677698", "text": "x" * 200, "edit_history_tweet_ids": ["1"]}
    data = []
    size = 0
    while size < BIG:
        data.append(tweet)
        size += 260
    body = json.dumps({"data": data, "meta": {"result_count": len(data)}}).encode()
    headers = dict(corpus.load().presets["v2"])
    return 200, sorted(headers.items()), body


def timeline_page() -> Reference:
    """A 2 KB v1.1 success, uncompressed: a home timeline page of two tweets (trim_user), with
    the rate-limit headers of a window not yet spent (the fake API moves Date and reset to now)."""
    common = {
        "truncated": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "in_reply_to_status_id": None,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None,
        "in_reply_to_user_id_str": None,
        "in_reply_to_screen_name": None,
        "geo": None,
        "coordinates": None,
        "place": None,
        "contributors": None,
        "is_quote_status": False,
        "favorited": False,
        "retweeted": False,
        "lang": "en",
    }
    no_entities = {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}
    dev = {"id": 2244994945, "id_str": "2244994945"}
    link = {
        "url": "https://t.co/8yYH2Ra7Fq",
        "expanded_url": "https://developer.twitter.com/en/updates",
        "display_url": "developer.twitter.com/en/updates",
        "indices": [53, 76],
    }
    tweets = [
        {
            "created_at": "Sun Apr 03 08:40:12 +0000 2022",
            "id": 1510520418532048897,
            "id_str": "1510520418532048897",
            "text": "Today we're sharing an update on the v1.1 endpoints: https://t.co/8yYH2Ra7Fq "
            "#TwitterAPI",
            **common,
            "entities": {
                **no_entities,
                "hashtags": [{"text": "TwitterAPI", "indices": [77, 88]}],
                "urls": [link],
            },
            "user": dev,
            "retweet_count": 12,
            "favorite_count": 48,
            "possibly_sensitive": False,
        },
        {
            "created_at": "Sun Apr 03 08:12:03 +0000 2022",
            "id": 1510513337405452290,
            "id_str": "1510513337405452290",
            "text": "@TwitterDev Is there a way to page the home timeline by since_id only?",
            **common,
            "in_reply_to_status_id": 1510508113416409089,
            "in_reply_to_status_id_str": "1510508113416409089",
            "in_reply_to_user_id": 2244994945,
            "in_reply_to_user_id_str": "2244994945",
            "in_reply_to_screen_name": "TwitterDev",
            "entities": {
                **no_entities,
                "user_mentions": [
                    {"screen_name": "TwitterDev", "name": "Twitter Dev", **dev, "indices": [0, 11]}
                ],
            },
            "user": {"id": 1072250532645998596, "id_str": "1072250532645998596"},
            "retweet_count": 0,
            "favorite_count": 2,
        },
    ]
    body = json.dumps(tweets, separators=(",", ":")).encode()
    headers = dict(corpus.load().presets["v1"])
    reset = int(epoch(headers["date"])) + 840  # 14 minutes after the Date: the window is open
    headers |= {
        "x-rate-limit-limit": "15",
        "x-rate-limit-remaining": "11",
        "x-rate-limit-reset": str(reset),
    }
    return 200, sorted(headers.items()), body


def references() -> dict[str, Reference]:
    """The answers the workloads name beside the corpus samples (and the fake API's own
    SPENT_WINDOW), by their x-sample."""
    return {"big-success": big_success(), "timeline-page": timeline_page()}


@dataclass(frozen=True)
class Workload:
    method: str
    path: str
    sample: str | None  # the x-sample the fake API answers with (None: a small success)
    count: int  # requests per round (times the scale)
    conns: int  # keep-alive connections they are spread over
    authorization: str | None = None  # the credential every request carries


WORKLOADS = {
    "small v1.1 error (187)": Workload(
        "POST", "/1.1/statuses/update.json", "v1.1-187-duplicate", 400, 4
    ),
    "small v1.1 success": Workload("GET", "/1.1/statuses/home_timeline.json", None, 400, 4),
    "plain 2 KB v1.1 success": Workload(
        "GET", "/1.1/statuses/home_timeline.json?count=2&trim_user=true", "timeline-page", 400, 4
    ),
    "gzip v2 success": Workload("GET", "/2/tweets/1293593516040269825", "v2-success-gzip", 400, 4),
    "v2 partial errors": Workload("GET", "/2/tweets?ids=1,2", "v2-partial-not-found", 400, 4),
    # One client retrying at once into a spent window: every answer is a 429 (code 88) whose
    # reset is 15 minutes ahead, so the audit finds each request after the first an early
    # retry. One connection: the audit judges a request only against answers the client had
    # before it began, and over four connections no flow got a finding (each began before
    # another's answer). Its flows/s is therefore that of one connection.
    "spent 429/88 window, one credential": Workload(
        "GET", "/1.1/search/tweets.json?q=x", SPENT_WINDOW, 400, 1, f"Bearer {BEARER}"
    ),
    "5 MB JSON success": Workload("GET", "/2/users/1/timelines", "big-success", 12, 2),
}
PROXIES = {
    "bare": [],
    "no-op script": ["-s", str(ROOT / "scripts" / "bench_noop.py")],
    "twerr": ["-s", str(ROOT / "addon" / "twerr_addon.py")],
    "twerr + 20 rules": [
        "-s",
        str(ROOT / "addon" / "twerr_addon.py"),
        *[arg for rule in NON_MATCHING for arg in ("--set", f"twerr_inject={rule}")],
    ],
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def drive(port: int, workload: Workload, count: int) -> None:
    """Send count requests over the workload's keep-alive connections, reading every answer."""
    method, path, sample, conns = workload.method, workload.path, workload.sample, workload.conns
    headers = {"host": "api.twitter.com", "accept-encoding": "gzip"}
    if sample:
        headers[SAMPLE_HEADER] = sample
    if workload.authorization:
        headers["authorization"] = workload.authorization
    body = b"status=hello" if method == "POST" else None
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(n):
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status >= 500 and sample is None:
                    raise AssertionError(f"{response.status} from the proxy")
        except BaseException as e:
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(count // conns,)) for _ in range(conns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class Callgrind:
    """Instructions a process executes, read by callgrind_control around a batch."""

    def __init__(self, tmp: Path) -> None:
        self.out = tmp / "callgrind.%p"

    def prefix(self) -> list[str]:
        return [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={self.out}",
        ]

    def start(self, pid: int) -> None:
        subprocess.run(
            ["callgrind_control", "--instr=on", str(pid)], check=True, capture_output=True
        )
        subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)

    def stop(self, pid: int) -> int:
        """Instructions since start(): dumps the counters and reads the dump's total."""
        before = set(self.out.parent.glob(f"callgrind.{pid}.*"))
        subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
        subprocess.run(
            ["callgrind_control", "--instr=off", str(pid)], check=True, capture_output=True
        )
        (dump,) = set(self.out.parent.glob(f"callgrind.{pid}.*")) - before
        found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
        return int(found.group(1)) if found else 0


def main(quick: bool, instructions: bool) -> None:
    rounds = (1 if quick else 3) if instructions else 2 if quick else 7
    scale = (0.01 if quick else 0.15) if instructions else 0.05 if quick else 1.0
    with FakeApi(references=references()) as api, tempfile.TemporaryDirectory() as tmp:
        upstream = f"reverse:http://127.0.0.1:{api.port}"
        common = ["--mode", upstream, "--set", "keep_host_header=true", "--flow-detail", "0"]
        callgrind = Callgrind(Path(tmp)) if instructions else None
        prefix = callgrind.prefix() if callgrind else []
        proxies = {
            name: Mitmdump(Path(tmp), *common, *args, prefix=prefix, timeout=300)
            for name, args in PROXIES.items()
        }
        try:
            for proxy in proxies.values():  # warm up: imports, certificates, caches
                drive(proxy.port, WORKLOADS["small v1.1 success"], 20)
                for workload in WORKLOADS.values():
                    drive(proxy.port, workload, workload.conns)
            per_flow: dict[tuple[str, str], list[float]] = {}
            throughput: dict[tuple[str, str], list[float]] = {}
            names = list(proxies)
            for round_ in range(rounds):
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for label, workload in WORKLOADS.items():
                    # whole requests per connection: drive() sends count // conns on each
                    conns = workload.conns
                    count = max(conns, int(workload.count * scale) // conns * conns)
                    for name in order:
                        pid = proxies[name].process.pid
                        if callgrind:
                            callgrind.start(pid)
                        cpu, wall = cpu_seconds(pid), time.perf_counter()
                        drive(proxies[name].port, workload, count)
                        cpu, wall = cpu_seconds(pid) - cpu, time.perf_counter() - wall
                        if callgrind:
                            cpu = callgrind.stop(pid) / 1e9  # so the table shows thousands
                        per_flow.setdefault((label, name), []).append(cpu / count * 1e6)
                        throughput.setdefault((label, name), []).append(count / wall)
            if callgrind:
                print("Instructions per flow (thousands, not µs), counted by callgrind")
            report(per_flow, throughput, rounds)
            print()
            for name, proxy in proxies.items():
                print(f"RSS after the run, {name}: {rss_mib(proxy.process.pid):.0f} MiB")
        finally:
            for proxy in proxies.values():
                proxy.stop()


def report(per_flow: dict, throughput: dict, rounds: int) -> None:
    print(f"mitmdump CPU µs per flow, median of {rounds} rounds (ratios: median [min-max])")
    width = max(map(len, WORKLOADS))
    header = f"{'workload':{width}} {'bare':>7} {'no-op':>7} {'twerr':>7} {'+20 rules':>9}"
    print(header + f" {'twerr/no-op':>18} {'twerr/bare':>18} {'rules/no-op':>18} {'flows/s':>8}")
    for workload in WORKLOADS:
        cells = {name: per_flow[(workload, name)] for name in PROXIES}
        medians = [statistics.median(cells[name]) for name in PROXIES]
        ratios = [
            _ratio(cells["twerr"], cells["no-op script"]),
            _ratio(cells["twerr"], cells["bare"]),
            _ratio(cells["twerr + 20 rules"], cells["no-op script"]),
        ]
        rate = statistics.median(throughput[(workload, "twerr")])
        line = f"{workload:{width}} " + " ".join(f"{m:7.0f}" for m in medians[:3])
        print(
            line + f" {medians[3]:9.0f} " + " ".join(f"{r:>18}" for r in ratios) + f" {rate:8.0f}"
        )


def _ratio(ours: list[float], base: list[float]) -> str:
    """Round by round (paired), so drift of the machine between rounds cancels out."""
    ratios = [a / b for a, b in zip(ours, base, strict=True) if b > 0]
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.3f} [{min(ratios):.2f}-{max(ratios):.2f}]"


if __name__ == "__main__":
    main("--quick" in sys.argv[1:], "--instructions" in sys.argv[1:])
