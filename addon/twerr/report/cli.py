"""`twerr report FLOWFILE...`: the report of recorded flows, without a proxy.

Flows are read one at a time from mitmproxy flow files (`-w` recordings) and HAR files (entry
by entry, in chunks), and go
through the same classifier, audit and report as in mitmdump, so the report is the one a live
session would have printed. A file that breaks off (truncated, corrupt) gives what was read
before the break; every skip is said, with its reason, on stderr. The exit status is 1 only
when no flow at all could be read (and, with --fail-on-findings, 3 when the audit found the
client mishandling an error: CI fails the job).
"""

from __future__ import annotations

import argparse
import codecs
import gc
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import BinaryIO

from mitmproxy import exceptions
from mitmproxy import flow as mitmflow
from mitmproxy import http
from mitmproxy import io as mitmio
from mitmproxy.io.har import request_to_flow

from twerr.components import build
from twerr.options import DEFAULT_SCOPE
from twerr.report.render import render_text
from twerr.report.render import write_report

GC_EVERY = 200  # flows
FINDINGS_STATUS = 3  # --fail-on-findings: 1 and 2 already say the report could not be made


class Skips:
    """What was not read or not reported, and why: flows counted per reason, and problems
    with files, each said once."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()
        self.problems: list[str] = []

    def note(self, reason: str) -> None:
        self.reasons[reason] += 1

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def lines(self) -> list[str]:
        lines = [f"twerr: {problem}" for problem in self.problems]
        return lines + [f"twerr: skipped {n} {reason}" for reason, n in self.reasons.items()]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    twerr_logger = logging.getLogger("twerr")
    level = twerr_logger.level
    twerr_logger.setLevel(logging.ERROR)  # the report says it all, once
    try:
        return _report(args)
    finally:
        twerr_logger.setLevel(level)


def _report(args: argparse.Namespace) -> int:
    parts, skips = build(), Skips()  # the same components as in mitmproxy, the same order
    scope, classifier = parts.scope, parts.classifier
    try:
        scope.use(args.scope)
    except ValueError as e:
        print(f"twerr: cannot parse --scope {args.scope!r}: {e}", file=sys.stderr)
        return 2
    read = 0
    for path in args.files:
        for flow in read_flows(Path(path), skips):
            read += 1
            if read % GC_EVERY == 0:
                gc.collect()  # flows are cyclic garbage: left to the collector, they pile up
            if not isinstance(flow, http.HTTPFlow):
                skips.note("flows that are not HTTP (TCP, UDP, DNS)")
                continue
            if not scope(flow):
                skips.note("flows outside the scope (not the Twitter/X API; see --scope)")
                continue
            if flow.response is None and flow.error is None:
                skips.note("requests without a response or an error")
                continue
            if flow.response is not None:
                classifier.response(flow)
            else:
                classifier.error(flow)
    for line in skips.lines():
        print(line, file=sys.stderr)
    if not read:
        print("twerr: no flow could be read", file=sys.stderr)
        return 1
    data = parts.reporter.report.to_dict()
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(render_text(data))
    targets = ((args.json, "json"), (args.html, "html"))
    for target, kind in (*targets, (args.junit, "junit"), (args.markdown, "markdown")):
        if target:
            written = write_report(data, target, kind)
            print(f"twerr: report written to {written}", file=sys.stderr)
    if args.fail_on_findings and data["findings"]:
        print(f"twerr: {data['findings']} audit findings", file=sys.stderr)
        return FINDINGS_STATUS
    return 0


def read_flows(path: Path, skips: Skips) -> Iterator[mitmflow.Flow]:
    """The flows of a .mitm or HAR file, one at a time; what cannot be read is noted."""
    try:
        file = path.open("rb")
    except OSError as e:
        skips.problem(f"{path}: cannot open: {e.strerror}")
        return
    with file:
        is_har = file.read(64).lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"{")  # JSON
        file.seek(0)
        if is_har:
            yield from _har_flows(path, file, skips)
            return
        count = 0
        try:
            for flow in mitmio.FlowReader(file).stream():
                count += 1
                yield flow
            return
        except exceptions.FlowReadException as e:
            problem = str(e)
        # mitmproxy lets these through for data that is not a flow (a dict without a flow's
        # fields) or is nested past Python's recursion limit. The type only: the message
        # may quote the file.
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            problem = f"not a flow: {type(e).__name__}"
        except RecursionError:
            problem = "nested too deeply"
        read = f"the {count} flows before it are reported" if count else "nothing was read"
        skips.problem(f"{path}: unreadable after flow {count} ({problem}); {read}")


def _har_flows(path: Path, file: BinaryIO, skips: Skips) -> Iterator[mitmflow.Flow]:
    count = 0
    try:
        for index, entry in enumerate(har_entries(file)):
            count = index + 1
            try:
                flow = request_to_flow(entry)
            except Exception as e:  # mitmproxy's HAR import raises whatever the entry provokes
                # the type only: the message may quote the entry, credentials included
                skips.problem(f"{path}: HAR entry {index} skipped ({type(e).__name__})")
                continue
            yield flow
    except ValueError as e:
        read = f"the {count} entries before it are reported" if count else "nothing was read"
        skips.problem(f"{path}: unreadable as HAR after entry {count} ({e}); {read}")


_ENTRIES = re.compile(r'"entries"\s*:\s*\[')
_CHUNK = 1 << 16


def har_entries(file: BinaryIO) -> Iterator[Any]:
    """The items of a HAR file's `log.entries` array, one at a time, read in chunks: memory
    holds the entry being parsed, not the file. Raises ValueError where the JSON breaks."""
    decoder, reader = json.JSONDecoder(), codecs.getincrementaldecoder("utf-8-sig")()
    text, ended = "", False

    def more(size: int = _CHUNK) -> None:
        nonlocal text, ended
        data = file.read(size)
        ended = not data
        text += reader.decode(data, final=ended)

    while (start := _ENTRIES.search(text)) is None:
        if ended:
            raise ValueError("no log.entries array")
        text = text[-64:]  # what comes before the entries (pages, creator) is not kept
        more()
    text, position = text[start.end() :], 0
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position == len(text):
            if ended:
                raise ValueError("the file breaks off inside log.entries")
            text, position = "", 0
            more()
            continue
        if text[position] == "]":
            return
        try:
            entry, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            if ended:
                raise ValueError("an entry is not valid JSON, or the file breaks off") from None
            more(max(_CHUNK, len(text)))  # a large entry: read as much again, not a bit more
            continue
        except RecursionError:  # json gives up past Python's recursion limit
            raise ValueError("an entry is nested too deeply") from None
        yield entry
        text, position = text[position:], 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twerr", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report",
        help="report the Twitter/X API errors in recorded flows",
        description="Read mitmproxy flow files and HAR files and print twerr's report.",
    )
    report.add_argument("files", nargs="+", metavar="FLOWFILE", help=".mitm or .har files")
    report.add_argument(
        "--format", choices=["text", "json"], default="text", help="what to print (text)"
    )
    report.add_argument("--json", metavar="PATH", help="also write the report as JSON here")
    report.add_argument("--html", metavar="PATH", help="also write it as one HTML page here")
    report.add_argument(
        "--junit",
        metavar="PATH",
        help="also write it as JUnit XML here: a test case per error path (endpoint x error), "
        "failed where the audit found the client mishandling it",
    )
    report.add_argument(
        "--markdown",
        metavar="PATH",
        help="also write it as a Markdown job summary here (e.g. $GITHUB_STEP_SUMMARY)",
    )
    report.add_argument(
        "--fail-on-findings",
        action="store_true",
        help=f"exit with {FINDINGS_STATUS} when the audit found anything (after writing the files)",
    )
    report.add_argument(
        "--scope",
        default=DEFAULT_SCOPE,
        help="which flows to report, as a mitmproxy filter (default: the Twitter/X API hosts)",
    )
    return parser
