"""twerr inside real mitmdump processes: offline over the bundled flows, and live in front of a
local stand-in for the API, the way users run it."""

import http.client
import json
from collections import Counter

import pytest
from mitmproxy import io as mitmio

import corpus
from fakeapi import SAMPLE_HEADER
from fakeapi import FakeApi
from processes import BUNDLED_FLOWS
from processes import SCRIPT
from processes import reverse_proxy_args
from processes import run_mitmdump

pytestmark = pytest.mark.e2e
SAMPLES = corpus.load().responses


def read_flows(path):
    with open(path, "rb") as file:
        return list(mitmio.FlowReader(file).stream())


def wire_state(flow) -> dict:
    state = flow.get_state()
    for key in ("metadata", "comment", "marked"):
        state.pop(key)
    return state


def test_offline_over_the_bundled_flows(tmp_path):
    out = tmp_path / "annotated.mitm"
    result = run_mitmdump(
        "-n", "-r", str(BUNDLED_FLOWS), "-s", str(SCRIPT), "-w", str(out), "--flow-detail", "0"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    original = read_flows(BUNDLED_FLOWS)
    annotated = read_flows(out)
    assert len(annotated) == len(original) == len(SAMPLES)
    for before, after, sample in zip(original, annotated, SAMPLES, strict=True):
        assert wire_state(after) == wire_state(before), sample.id  # not a byte changed
        meta = after.metadata["twerr"]
        assert (meta["status"], meta["shape"], meta["api"], meta["category"]) == (
            sample.status,
            sample.expect.shape,
            sample.expect.api,
            sample.expect.category,
        ), sample.id
        if sample.expect.category == "success":
            assert (after.comment, after.marked) == ("", "")
        else:
            assert after.comment and after.marked
    duplicate = annotated[[s.id for s in SAMPLES].index("v1.1-187-duplicate")]
    assert duplicate.comment == (
        "187 Status is a duplicate — "
        "The status text has already been Tweeted by the authenticated account."
    )
    lines = result.stdout.splitlines()
    errors = [s for s in SAMPLES if s.expect.category != "success"]
    assert len([line for line in lines if " → " in line]) == len(errors)
    (summary,) = [line.split("twerr: ", 1)[1] for line in lines if "twerr: " in line]
    report = next(i for i, line in enumerate(lines) if "twerr report: " in line)
    assert lines[report].endswith(
        f"twerr report: {len(SAMPLES)} Twitter API responses, {len(errors)} errors "
        f"({len(errors)} real, 0 injected), 0 audit findings, "
        "2026-01-01T00:00:00Z to 2026-01-01T00:08:10Z"
    )
    assert lines[report + 2] == "Errors by kind"
    total, tally = summary.split(" Twitter API responses: ")
    assert int(total) == len(SAMPLES)
    counts = {c: int(n) for n, c in (part.split(" ") for part in tally.split(", "))}
    assert counts == Counter(s.expect.category for s in SAMPLES)
    written = result.stdout + json.dumps([[f.metadata, f.comment] for f in annotated])
    for secret in corpus.SECRETS:
        assert secret not in written


def test_reading_twerrs_own_output_again_changes_nothing(tmp_path):
    once, twice = tmp_path / "once.mitm", tmp_path / "twice.mitm"
    for source, target in ((BUNDLED_FLOWS, once), (once, twice)):
        result = run_mitmdump(
            "-n", "-r", str(source), "-s", str(SCRIPT), "-w", str(target), "--flow-detail", "0"
        )
        assert result.returncode == 0, result.stdout
    assert [f.get_state() for f in read_flows(twice)] == [f.get_state() for f in read_flows(once)]


def test_bad_scope_stops_mitmdump_with_a_clear_message():
    result = run_mitmdump(
        "-n", "-s", str(SCRIPT), "--set", "twerr_scope=~d (", "-r", str(BUNDLED_FLOWS)
    )
    assert result.returncode != 0
    assert "Cannot parse twerr_scope option '~d ('" in result.stdout + result.stderr


def fetch(port: int, sample: corpus.Sample):
    """One request through the proxy, as a client would send it; the raw response back."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    host = sample.url.split("/")[2]
    headers = {**corpus.REQUEST_HEADERS, "host": host, SAMPLE_HEADER: sample.id}
    connection.request(sample.method, sample.path, headers=headers)
    response = connection.getresponse()
    got = (response.status, response.getheaders(), response.read())
    connection.close()
    return got


def test_live_reverse_proxy_passes_every_byte_and_annotates(mitmdump, tmp_path):
    out = tmp_path / "live.mitm"
    with FakeApi() as api:
        proxy = mitmdump(*reverse_proxy_args(api.port, out))
        received = {sample.id: fetch(proxy.port, sample) for sample in SAMPLES}
        output = proxy.stop()
    for sample in SAMPLES:
        status, headers, body = received[sample.id]
        assert status == sample.status, sample.id
        assert body == sample.raw_body, sample.id
        sent = sample.response_headers(corpus.load().presets)
        assert [(k.lower(), v) for k, v in headers] == sent, sample.id
    flows = {flow.request.headers[SAMPLE_HEADER]: flow for flow in read_flows(out)}
    for sample in SAMPLES:
        meta = flows[sample.id].metadata["twerr"]
        assert (meta["shape"], meta["category"]) == (sample.expect.shape, sample.expect.category)
    assert "POST api.twitter.com/1.1/statuses/update.json → 403 187 Status is a duplicate" in output
    assert f"twerr: {len(SAMPLES)} Twitter API responses" in output
    assert "Traceback" not in output
    # the credentials went upstream untouched, and nowhere else
    assert all(
        headers["authorization"] == corpus.REQUEST_HEADERS["authorization"]
        for _, _, headers in api.requests
    )
    for secret in corpus.SECRETS:
        assert secret not in output
