"""The injector in mitmproxy's addon machinery (taddons), with the classifier behind it."""

import asyncio
import base64
import functools
import gzip
import io
import json
import logging
import random
import time
import tracemalloc

import pytest
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import io as mitmio
from mitmproxy.connection import ConnectionState
from mitmproxy.proxy.layers.http import HttpErrorHook
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpResponseHook
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from twerr.addon import Twerr
from twerr.inject import clock as injector_clock

BEARER = "AAAAAAAAAAAAAAAAAAAAAtwerrTestBearerToken"
UPSTREAM_BODY = b'{"id":1445880548472328192,"text":"hello"}'


def scenario(test):
    """Run an async test body in its own event loop, as mitmproxy runs hooks."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def make_flow(path="/1.1/statuses/update.json", method="POST", host="api.twitter.com", **headers):
    flow = tflow.tflow(live=True)
    flow.request = http.Request.make(
        method, f"https://{host}{path}", b"", {"authorization": f"Bearer {BEARER}", **headers}
    )
    return flow


class Proxy:
    """The twerr addons, fed flows hook by hook as mitmproxy feeds them; counts upstream calls."""

    def __init__(self, tctx: taddons.context, twerr: Twerr) -> None:
        self.tctx, self.twerr, self.upstream_calls = tctx, twerr, 0
        self.injector = twerr.parts.injector

    async def send(
        self, flow: http.HTTPFlow, status: int = 200, body: bytes = UPSTREAM_BODY
    ) -> http.HTTPFlow:
        addons = self.tctx.master.addons
        await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
        await addons.handle_lifecycle(HttpRequestHook(flow))
        if flow.error:
            await addons.handle_lifecycle(HttpErrorHook(flow))
            return flow
        if flow.response is None:
            self.upstream_calls += 1
            flow.response = http.Response.make(
                status, body, {"content-type": "application/json;charset=utf-8"}
            )
        await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
        await addons.handle_lifecycle(HttpResponseHook(flow))
        return flow

    def configure(self, **options) -> None:
        self.tctx.configure(self.twerr, **options)


def record(flow) -> dict:
    return flow.metadata["twerr"]["injected"]


def hooked(proxy: Proxy) -> list[str]:
    """The flow hooks mitmproxy finds on twerr (it looks each up by name on every event)."""
    hooks = ("requestheaders", "request", "responseheaders", "response", "error")
    return [name for name in hooks if getattr(proxy.twerr, name, None) is not None]


ALWAYS = ["requestheaders", "responseheaders", "response", "error"]
WITH_RULES = ["requestheaders", "request", "responseheaders", "response", "error"]


async def busy(proxy: Proxy) -> bool:
    """Whether twerr's request hook would do work on a request (it returns an awaitable)."""
    flow = make_flow()
    flow.live = False  # a recorded flow: what the hook returns is awaited without effect
    work = proxy.twerr.request(flow) if "request" in hooked(proxy) else None
    if work is not None:
        await work
    return work is not None


@scenario
async def test_the_request_hook_is_there_only_while_a_fault_can_be_asked_for(proxy_factory):
    proxy = proxy_factory()
    assert hooked(proxy) == ALWAYS  # no rules: mitmproxy finds no request hook
    proxy.configure(twerr_inject=[":~m POST:http503:phase=response"])
    assert hooked(proxy) == WITH_RULES
    flow = make_flow()
    addons = proxy.tctx.master.addons
    await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await addons.handle_lifecycle(HttpRequestHook(flow))
    proxy.tctx.master.commands.call("twerr.clear")  # rules gone, one fault still to finish
    proxy.configure(twerr_inject=[])
    assert hooked(proxy) == ALWAYS and not await busy(proxy)
    flow.response = http.Response.make(200, UPSTREAM_BODY)
    await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
    await addons.handle_lifecycle(HttpResponseHook(flow))
    assert flow.response.status_code == 503 and record(flow)["fault"] == "http503"
    assert not proxy.injector.active and not proxy.injector.pending
    # a twerr.next rule brings them back, and they leave once it has fired
    proxy.tctx.master.commands.call("twerr.next", ":~m POST:http503")
    assert hooked(proxy) == WITH_RULES
    fired = make_flow()
    await proxy.send(fired)
    assert fired.response.status_code == 503 and record(fired)["fault"] == "http503"
    assert hooked(proxy) == ALWAYS and not proxy.injector.active
    proxy.configure(twerr_inject_header=True)  # the header can ask for a fault on any request
    assert hooked(proxy) == WITH_RULES


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        (":~m POST:http503", "http503"),
        (":~m POST:http503:phase=response", "http503"),
        (":~m POST:truncate", "truncate"),
    ],
)
@scenario
async def test_a_next_rule_alone_fires_and_finishes_in_every_phase(proxy_factory, spec, fault):
    # Its last rule gone as it fires, the fault still needs the injector's later flow hooks.
    proxy = proxy_factory(twerr_max_faults=1)
    for _ in range(2):  # a fault left unfinished would hold the only slot
        proxy.tctx.master.commands.call("twerr.next", spec)
        flow = make_flow()
        await proxy.send(flow)
        assert record(flow)["fault"] == fault
        if fault == "http503":
            assert flow.response.status_code == 503
        assert not proxy.injector.active and not proxy.injector.pending
        assert not await busy(proxy)


@scenario
async def test_no_rules_no_change(proxy_factory):
    proxy = proxy_factory()
    flow = make_flow()
    before = flow.request.get_state()
    await proxy.send(flow)
    assert flow.request.get_state() == before
    assert flow.response.content == UPSTREAM_BODY and proxy.upstream_calls == 1
    assert flow.metadata["twerr"]["injected"] is None


@scenario
async def test_a_code_answers_without_asking_the_api(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u /1.1/statuses/update:187"])
    flow = await proxy.send(make_flow())
    assert proxy.upstream_calls == 0
    assert flow.response.status_code == 403
    assert json.loads(flow.response.content) == {
        "errors": [{"code": 187, "message": "Status is a duplicate."}]
    }
    meta = flow.metadata["twerr"]
    assert [e["code"] for e in meta["errors"]] == [187]
    assert record(flow) == {
        "rule": "twerr_inject[0]",
        "spec": "~u /1.1/statuses/update -> 187",
        "fault": "187",
        "phase": "request",
        "seed": 1,
        "match": 1,
        "injection": 1,
        "draw": None,
    }
    assert flow.marked == ":syringe:"
    assert flow.comment.splitlines()[-1] == (
        "injected by twerr: 187 at request phase; rule twerr_inject[0]: "
        "~u /1.1/statuses/update -> 187; match 1"
    )


@scenario
async def test_v2_endpoints_get_v2_bodies_gzipped_when_the_client_accepts_it(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u /2/:usage-capped"])
    flow = await proxy.send(make_flow("/2/tweets", **{"accept-encoding": "gzip, deflate"}))
    assert flow.response.status_code == 429
    assert flow.response.headers["content-encoding"] == "gzip"
    assert flow.response.headers["content-type"] == "application/json; charset=utf-8"
    body = json.loads(flow.response.content)
    assert body["type"] == "https://api.x.com/2/problems/usage-capped"
    assert flow.metadata["twerr"]["category"] == "rate_limit"


@scenario
async def test_response_phase_lets_the_request_reach_the_api_and_keeps_its_answer(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~m POST:http503:phase=response"])
    flow = await proxy.send(make_flow())
    assert proxy.upstream_calls == 1
    assert flow.response.status_code == 503
    original = record(flow)["original"]
    assert (original["status"], original["reason"]) == (200, "OK")
    assert base64.b64decode(original["body_base64"]) == UPSTREAM_BODY
    assert ["content-type", "application/json;charset=utf-8"] in original["headers"]
    assert [e["code"] for e in flow.metadata["twerr"]["errors"]] == [130]


@pytest.mark.parametrize("fault", ["reset", "empty", "timeout:hold=1"])
@scenario
async def test_network_faults_drop_the_connection_without_an_answer(proxy_factory, fault):
    proxy = proxy_factory(twerr_inject=[f":~all:{fault}"])
    flow = make_flow()
    asyncio.get_running_loop().call_later(
        0.2, setattr, flow.client_conn, "state", ConnectionState.CLOSED
    )
    started = time.monotonic()
    await proxy.send(flow)
    assert time.monotonic() - started < 0.9  # timeout ends when the client gives up
    assert flow.error is not None and flow.response is None and proxy.upstream_calls == 0
    meta = flow.metadata["twerr"]
    assert meta["shape"] == "transport-error" and meta["category"] == "network"
    assert record(flow)["fault"] == fault.split(":")[0]


@scenario
async def test_timeout_holds_at_most_hold_seconds(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:timeout:hold=1"])
    started = time.monotonic()
    flow = await proxy.send(make_flow())
    assert 1 <= time.monotonic() - started < 2
    assert flow.error is not None


@scenario
async def test_a_lost_response_kills_the_flow_after_the_api_answered(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~m POST:reset:phase=response"])
    flow = await proxy.send(make_flow())
    assert proxy.upstream_calls == 1 and flow.error is not None
    assert flow.metadata["twerr"]["shape"] == "transport-error"
    assert base64.b64decode(record(flow)["original"]["body_base64"]) == UPSTREAM_BODY


@scenario
async def test_truncate_promises_the_whole_body_and_sends_half(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:truncate"])
    flow = await proxy.send(make_flow())
    assert flow.response.headers["content-length"] == str(len(UPSTREAM_BODY))
    assert flow.response.raw_content == UPSTREAM_BODY[: len(UPSTREAM_BODY) // 2]
    assert flow.response.headers["connection"] == "close"
    assert record(flow)["phase"] == "response"


@scenario
async def test_delay_alone_adds_latency_and_changes_nothing_else(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:pass:delay=200"])
    started = time.monotonic()
    flow = await proxy.send(make_flow())
    assert time.monotonic() - started >= 0.2
    assert flow.response.content == UPSTREAM_BODY and proxy.upstream_calls == 1
    assert record(flow)["fault"] == "pass"


@scenario
async def test_an_emulated_window_counts_down_then_answers_429_until_it_resets(
    proxy_factory, monkeypatch
):
    clock = [1_767_225_600.0]
    monkeypatch.setattr(injector_clock, "now", lambda: clock[0])
    proxy = proxy_factory(twerr_inject=[":~u user_timeline:88:ratelimit=2/60"])
    path = "/1.1/statuses/user_timeline.json?screen_name=x"

    async def call(token=BEARER):
        flow = make_flow(path, "GET", authorization=f"Bearer {token}")
        await proxy.send(flow)
        headers = flow.response.headers
        return (
            flow.response.status_code,
            headers["x-rate-limit-remaining"],
            headers["x-rate-limit-reset"],
        )

    reset = str(int(clock[0]) + 60)
    assert [await call() for _ in range(4)] == [
        (200, "1", reset),
        (200, "0", reset),
        (429, "0", reset),
        (429, "0", reset),
    ]
    assert proxy.upstream_calls == 2
    assert (await call("another-token"))[:2] == (200, "1")  # each credential has its window
    clock[0] += 60
    assert (await call())[:2] == (200, "1")


@scenario
async def test_the_same_seed_gives_the_same_faults(proxy_factory):
    async def run(seed):
        proxy = proxy_factory(twerr_inject=[":~all:130:p=0.5"], twerr_seed=seed)
        flows = [await proxy.send(make_flow()) for _ in range(40)]
        return [i for i, f in enumerate(flows) if f.response.status_code == 503], flows

    first, flows = await run(7)
    assert first == (await run(7))[0] and first != (await run(8))[0]
    assert 8 <= len(first) <= 32
    drawn = record(flows[first[0]])
    assert drawn["seed"] == 7 and 0 <= drawn["draw"] < 0.5


@scenario
async def test_the_header_works_only_when_switched_on_and_never_goes_upstream(proxy_factory):
    proxy = proxy_factory()
    flow = await proxy.send(make_flow(**{"X-Twerr-Inject": "187"}))
    assert flow.response.status_code == 200 and flow.request.headers["X-Twerr-Inject"] == "187"

    proxy.configure(twerr_inject_header=True)
    flow = await proxy.send(make_flow(**{"X-Twerr-Inject": "326;delay=10"}))
    assert flow.response.status_code == 403 and "X-Twerr-Inject" not in flow.request.headers
    assert record(flow)["rule"] == "X-Twerr-Inject"


@scenario
async def test_a_bad_header_is_removed_logged_and_ignored(proxy_factory, caplog):
    proxy = proxy_factory(twerr_inject_header=True)
    with caplog.at_level(logging.WARNING):
        flow = await proxy.send(make_flow(**{"X-Twerr-Inject": "187;times=2"}))
    assert flow.response.content == UPSTREAM_BODY and "X-Twerr-Inject" not in flow.request.headers
    assert "ignored X-Twerr-Inject: '187;times=2': times: not for a single request" in caplog.text


@scenario
async def test_the_fault_cap_skips_faults_beyond_it(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:130:delay=300"], twerr_max_faults=1)
    flows = await asyncio.gather(proxy.send(make_flow()), proxy.send(make_flow()))
    assert sorted(f.response.status_code for f in flows) == [200, 503]
    assert "1 skipped (twerr_max_faults reached)" in proxy.injector.summary()[0]


@pytest.mark.parametrize(
    "options,complaint",
    [
        ({"twerr_inject": [":~u /2/:187", ":~u x:999"]}, "twerr_inject option ':~u x:999'.*999"),
        ({"twerr_max_faults": 0}, "twerr_max_faults must be 1 or more"),
        ({"twerr_rules": "/nonexistent/rules.yaml"}, "Cannot load twerr_rules file: cannot read"),
    ],
)
@scenario
async def test_bad_options_are_refused_and_the_previous_rules_stay(
    proxy_factory, options, complaint
):
    proxy = proxy_factory(twerr_inject=[":~u update:187"])
    with pytest.raises(exceptions.OptionsError, match=complaint):
        proxy.configure(**options)
    flow = await proxy.send(make_flow())
    assert flow.response.status_code == 403
    assert [a.origin for a in proxy.injector.rules.rules] == ["twerr_inject[0]"]


@scenario
async def test_the_rules_file_is_reloaded_and_a_broken_one_keeps_the_rules(
    proxy_factory, tmp_path, caplog
):
    path = tmp_path / "rules.yaml"
    path.write_text("- match: '~u update'\n  fault: 187\n")
    proxy = proxy_factory(twerr_rules=str(path))
    assert (await proxy.send(make_flow())).response.status_code == 403

    path.write_text("- match: '~u update'\n  fault: 326\n  times: 1\n")
    proxy.injector.check_rules_file()
    assert (await proxy.send(make_flow())).response.status_code == 403
    assert [e["code"] for e in (await proxy.send(make_flow())).metadata["twerr"]["errors"]] == []

    path.write_text("- match: '~u update'\n  fault: 187\n  p: 5\n")
    with caplog.at_level(logging.ERROR):
        proxy.injector.check_rules_file()
        proxy.injector.check_rules_file()  # said once per change
    assert caplog.text.count("rules.yaml line 3: rule 1: p: Input should be less than") == 1
    assert "keeping the 1 rule(s) in force" in caplog.text
    assert proxy.injector.rules.file_rules[0].rule.fault == "326"


@scenario
async def test_commands(proxy_factory, caplog):
    proxy = proxy_factory(twerr_inject=[":~all:130"])
    tctx, twerr = proxy.tctx, proxy.twerr
    tctx.command(twerr.inject, ":~u update:187")
    tctx.command(twerr.next, ":~u update:326")
    codes = []
    for _ in range(3):
        flow = await proxy.send(make_flow())
        codes.append(flow.metadata["twerr"]["errors"][0]["code"])
    assert codes == [326, 187, 187]
    with caplog.at_level(logging.INFO):
        lines = tctx.command(twerr.list_rules)
    assert lines == [
        "twerr: twerr.next: ~u update -> 326: 1 injected of 1 matched [spent]",
        "twerr: twerr.inject: ~u update -> 187: 2 injected of 2 matched [active]",
        "twerr: twerr_inject[0]: ~all -> 130: 0 injected of 0 matched [active]",
    ]
    assert lines[0] in caplog.text
    with pytest.raises(exceptions.CommandError, match=r"Cannot parse twerr\.inject spec"):
        tctx.command(twerr.inject, ":~u x:nonsense")
    tctx.command(twerr.clear)
    assert twerr.parts.injector.rules.rules == [] and tctx.options.twerr_inject == []
    assert (await proxy.send(make_flow())).response.status_code == 200


@scenario
async def test_only_live_flows_in_scope_are_touched(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:187"])
    outside = await proxy.send(make_flow(host="example.com"))
    assert outside.response.content == UPSTREAM_BODY and "twerr" not in outside.metadata
    recorded = make_flow()
    recorded.live = False
    await proxy.send(recorded)
    assert recorded.response.content == UPSTREAM_BODY


@scenario
async def test_injected_flows_survive_a_flow_file_and_hold_no_secret(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~m POST:88:phase=response,p=0.9"])
    flow = await proxy.send(make_flow(cookie="auth_token=cookiesecret"))
    buffer = io.BytesIO()
    mitmio.FlowWriter(buffer).add(flow)
    [read] = list(mitmio.FlowReader(io.BytesIO(buffer.getvalue())).stream())
    assert read.metadata == flow.metadata and read.comment == flow.comment
    written = json.dumps(flow.metadata) + flow.comment
    assert BEARER not in written and "cookiesecret" not in written


@scenario
async def test_a_summary_at_shutdown(proxy_factory, caplog):
    proxy = proxy_factory(twerr_inject=[":~u update:187:times=1"])
    await proxy.send(make_flow())
    await proxy.send(make_flow())
    with caplog.at_level(logging.INFO):
        proxy.injector.done()
    assert (
        "twerr_inject[0]: ~u update -> 187 (times=1): 1 injected of 2 matched [spent]"
        in caplog.text
    )


@scenario
async def test_a_replay_that_is_not_injected_loses_the_old_record(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u update:187:times=1"])
    flow = await proxy.send(make_flow())
    assert flow.marked == ":syringe:"
    flow.response = None  # mitmproxy replays a flow in place
    await proxy.send(flow)
    assert flow.response.status_code == 200
    assert flow.metadata["twerr"]["injected"] is None and flow.marked != ":syringe:"


@pytest.mark.parametrize(
    "options",
    [{}, {"twerr_inject": [":~u update:truncate"]}],  # no rules; a fault with nothing to cut
    ids=["no rules", "a fault not carried out"],
)
@scenario
async def test_a_replay_killed_or_left_alone_loses_the_old_record(proxy_factory, options):
    proxy = proxy_factory(twerr_inject=[":~u update:187:times=1"])
    flow = await proxy.send(make_flow())
    assert flow.marked == ":syringe:"
    proxy.configure(twerr_inject=options.get("twerr_inject", []))
    flow.response = None  # mitmproxy replays a flow in place
    addons = proxy.tctx.master.addons
    await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await addons.handle_lifecycle(HttpRequestHook(flow))
    if not options:  # the user kills this replay before it is answered
        flow.kill()
        await addons.handle_lifecycle(HttpErrorHook(flow))
    else:  # the API answers with an empty body: truncate has nothing to cut
        flow.response = http.Response.make(200, b"")
        await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
        await addons.handle_lifecycle(HttpResponseHook(flow))
    assert flow.metadata["twerr"]["injected"] is None and flow.marked != ":syringe:"


def test_recorded_flows_are_classified_by_a_synchronous_call_as_script_run_makes(proxy_factory):
    proxy = proxy_factory()  # no rules: script.run calls every hook from a sync context
    flow = make_flow()
    body = b'{"errors":[{"code":187,"message":"Status is a duplicate."}]}'
    flow.response = http.Response.make(403, body, {"content-type": "application/json"})
    for hook in (HttpResponseHeadersHook(flow), HttpResponseHook(flow)):
        proxy.tctx.master.addons.invoke_addon_sync(proxy.twerr, hook)
    assert flow.metadata["twerr"]["errors"][0]["code"] == 187


@scenario
async def test_a_streamed_request_body_is_buffered_when_a_rule_may_answer_it(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u media/upload:324"])
    upload = make_flow("/1.1/media/upload.json")
    upload.request.stream = True  # as stream_large_bodies sets it
    await proxy.send(upload)
    assert upload.request.stream is False and upload.response.status_code == 400
    other = make_flow("/1.1/statuses/update.json")
    other.request.stream = True
    await proxy.send(other)
    assert other.request.stream is True


@scenario
async def test_head_requests_get_headers_only(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:187"])
    flow = await proxy.send(make_flow(method="HEAD"))
    assert flow.response.status_code == 403 and flow.response.raw_content == b""
    assert flow.response.headers["content-length"] == "60"


@scenario
async def test_a_204_carries_no_content_length(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:http204"])
    flow = await proxy.send(make_flow())
    assert flow.response.status_code == 204 and "content-length" not in flow.response.headers


@pytest.mark.parametrize("spec", [":~all:187:delay=500", ":~all:timeout:hold=5"])
@scenario
async def test_a_flow_killed_while_twerr_waits_is_left_alone(proxy_factory, spec):
    proxy = proxy_factory(twerr_inject=[spec])
    flow = make_flow()
    asyncio.get_running_loop().call_later(0.1, flow.kill)
    started = time.monotonic()
    await proxy.send(flow)
    assert time.monotonic() - started < 1
    assert flow.response is None and flow.error.msg == "Connection killed."
    assert flow.metadata["twerr"]["injected"] is None
    assert not proxy.injector.active and not proxy.injector.pending


@scenario
async def test_a_refused_rules_file_change_does_not_rearm_spent_rules(proxy_factory, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("- match: '~u update'\n  fault: 187\n  times: 1\n")
    proxy = proxy_factory(twerr_rules=str(path))
    assert (await proxy.send(make_flow())).response.status_code == 403
    with pytest.raises(exceptions.OptionsError):
        proxy.configure(twerr_rules=str(tmp_path / "missing.yaml"))
    assert (await proxy.send(make_flow())).response.status_code == 200
    path.write_text(
        "- match: '~u update'\n  fault: 187\n  times: 1\n- fault: 326\n  match: '~u x'\n"
    )
    proxy.injector.check_rules_file()  # another rule added: the spent one stays spent
    assert (await proxy.send(make_flow())).response.status_code == 200


@scenario
async def test_slow_answered_before_the_relay_was_asked_is_no_fault(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:slow"])
    proxy.injector.slow_detour.added = True  # the detour would come later in the chain
    flow = await proxy.send(make_flow())
    assert flow.response.content == UPSTREAM_BODY
    assert flow.metadata["twerr"]["injected"] is None


@pytest.mark.parametrize(
    "path,body",
    [
        ("/oauth2/token", b'{"token_type":"bearer","access_token":"AAAAsecret"}'),
        ("/1.1/account/settings.json", b'{"screen_name":"x","access_token":"AAAAsecret"}'),
    ],
)
@scenario
async def test_an_original_response_holding_credentials_is_not_kept(proxy_factory, path, body):
    proxy = proxy_factory(twerr_inject=[":~all:http503:phase=response"])
    flow = make_flow(path)
    await proxy.tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await proxy.tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
    flow.response = http.Response.make(200, body, {"content-type": "application/json"})
    await proxy.tctx.master.addons.handle_lifecycle(HttpResponseHook(flow))
    original = record(flow)["original"]
    assert "body_base64" not in original and "credentials" in original["body_withheld"]
    assert "AAAAsecret" not in json.dumps(flow.metadata)


@scenario
async def test_an_original_response_is_read_for_credentials_only_as_far_as_needed(
    proxy_factory,
):
    proxy = proxy_factory(twerr_inject=[":~all:http503:phase=response"])
    inflated = 50 << 20
    kept = []
    for body in (gzip.compress(b"0" * inflated), gzip.compress(b'{"access_token":"AAAAx"}')):
        flow = make_flow("/1.1/account/settings.json")
        await proxy.tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
        await proxy.tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
        flow.response = http.Response.make(200)
        flow.response.headers["content-encoding"] = "gzip"
        flow.response.raw_content = body
        tracemalloc.start()
        await proxy.tctx.master.addons.handle_lifecycle(HttpResponseHook(flow))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert flow.response.status_code == 503
        assert peak < inflated / 10  # the bomb was not inflated whole
        kept.append(record(flow)["original"])
    bomb, token = kept
    assert "body_base64" in bomb
    assert "body_base64" not in token and "credentials" in token["body_withheld"]


@pytest.mark.parametrize("label", ["rot13", "273", "utf-8", "base64", "bogus"])
@scenario
async def test_an_original_response_under_any_content_encoding_is_kept(proxy_factory, label):
    # mitmproxy's own decoding raises TypeError for a text-to-text codec's name (rot13) and
    # returns text for a charset's (273 is cp273): the API's answer is kept as it came
    proxy = proxy_factory(twerr_inject=[":~all:http503:phase=response"])
    flow = make_flow("/1.1/account/settings.json")
    await proxy.tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await proxy.tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
    flow.response = http.Response.make(200)
    flow.response.headers["content-encoding"] = label
    flow.response.raw_content = b'{"screen_name":"x"}'
    await proxy.tctx.master.addons.handle_lifecycle(HttpResponseHook(flow))
    assert flow.response.status_code == 503
    original = record(flow)["original"]
    assert base64.b64decode(original["body_base64"]) == b'{"screen_name":"x"}'
    assert ["content-encoding", label] in original["headers"]


@scenario
async def test_a_body_filter_on_a_body_mitmproxy_cannot_read_matches_nothing(proxy_factory, caplog):
    proxy = proxy_factory(twerr_inject=[":~m POST & ~bq status=:187"])
    unreadable = make_flow()
    unreadable.request.headers["content-encoding"] = "rot13"  # mitmproxy's ~bq: TypeError
    unreadable.request.raw_content = b"status=hello"
    readable = make_flow()
    readable.request.raw_content = b"status=hello"
    with caplog.at_level(logging.WARNING):
        assert (await proxy.send(unreadable)).response.status_code == 200
        assert (await proxy.send(readable)).response.status_code == 403
    assert not caplog.records
    assert record(unreadable) is None and record(readable)["fault"] == "187"


@scenario
async def test_a_plain_429_names_the_same_reset_until_it_comes(proxy_factory, monkeypatch):
    clock = [1_767_225_600.0]
    monkeypatch.setattr(injector_clock, "now", lambda: clock[0])
    proxy = proxy_factory(twerr_inject=[":~u timeline:88:reset=60"])
    resets = []
    for step in (0, 20, 39, 61):
        clock[0] = 1_767_225_600.0 + step
        flow = await proxy.send(make_flow("/1.1/statuses/user_timeline.json", "GET"))
        resets.append(int(flow.response.headers["x-rate-limit-reset"]) - 1_767_225_600)
    assert resets == [60, 60, 60, 120]


@pytest.mark.parametrize(
    "accept,gzipped",
    [("gzip, deflate", True), ("gzip;q=0, br", False), ("identity", False), ("*", True)],
)
@scenario
async def test_gzip_only_for_clients_that_accept_it(proxy_factory, accept, gzipped):
    proxy = proxy_factory(twerr_inject=[":~all:187"])
    flow = await proxy.send(make_flow(**{"accept-encoding": accept}))
    assert (flow.response.headers.get("content-encoding") == "gzip") is gzipped


@scenario
async def test_a_streamed_body_is_buffered_for_the_header_too(proxy_factory):
    proxy = proxy_factory(twerr_inject_header=True)
    flow = make_flow(**{"X-Twerr-Inject": "http503"})
    flow.request.stream = True
    await proxy.send(flow)
    assert flow.request.stream is False and flow.response.status_code == 503
    assert proxy.upstream_calls == 0


@scenario
async def test_a_streamed_response_is_buffered_when_a_fault_will_replace_it(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u update:http503:phase=response"])
    flow = make_flow()
    addons = proxy.tctx.master.addons
    await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await addons.handle_lifecycle(HttpRequestHook(flow))
    flow.response = http.Response.make(200, UPSTREAM_BODY, {"content-type": "application/json"})
    flow.response.stream = True  # as stream_large_bodies sets it
    await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
    assert flow.response.stream is False
    await addons.handle_lifecycle(HttpResponseHook(flow))
    assert flow.response.status_code == 503


@scenario
async def test_a_kill_during_a_delay_frees_the_fault_slot_at_once(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u update:187:delay=20000"], twerr_max_faults=1)
    flow = make_flow()
    asyncio.get_running_loop().call_later(0.2, flow.kill)
    started = time.monotonic()
    await proxy.send(flow)
    assert time.monotonic() - started < 1 and not proxy.injector.active
    assert "1 skipped (nothing to do it to)" in proxy.injector.summary()[0]


@pytest.mark.parametrize(
    "update",
    [
        {"twerr_inject": [], "twerr_rules": "/nonexistent.yaml"},
        {"twerr_rules": "", "twerr_max_faults": 0},
    ],
)
@scenario
async def test_a_refused_update_of_several_options_changes_nothing(proxy_factory, tmp_path, update):
    path = tmp_path / "rules.yaml"
    path.write_text("- match: '~u update'\n  fault: 187\n  times: 1\n")
    proxy = proxy_factory(twerr_rules=str(path), twerr_inject=[":~u other:130"])
    assert (await proxy.send(make_flow())).response.status_code == 403
    with pytest.raises(exceptions.OptionsError):
        proxy.tctx.options.update(**update)
    assert (await proxy.send(make_flow())).response.status_code == 200  # still spent
    origins = [a.origin for a in proxy.injector.rules.rules]
    assert origins == ["twerr_inject[0]", "rules.yaml line 1"]


@scenario
async def test_a_next_rule_skipped_for_the_cap_waits_for_the_next_request(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~u slow:187:delay=300"], twerr_max_faults=1)
    proxy.tctx.command(proxy.twerr.next, ":~u update:326")
    held = asyncio.ensure_future(proxy.send(make_flow("/1.1/slow.json")))
    await asyncio.sleep(0.05)
    first = await proxy.send(make_flow())  # the cap is reached: passes
    await held
    second = await proxy.send(make_flow())
    assert (first.response.status_code, second.response.status_code) == (200, 403)
    assert proxy.injector.summary()[0].startswith("twerr: twerr.next: ~u update -> 326: 1 injected")


@scenario
async def test_a_next_rule_with_a_window_keeps_its_window(proxy_factory):
    proxy = proxy_factory()
    proxy.tctx.command(proxy.twerr.next, ":~u timeline:88:ratelimit=1/60")
    codes = [
        (
            await proxy.send(make_flow("/1.1/statuses/user_timeline.json", "GET"))
        ).response.status_code
        for _ in range(3)
    ]
    assert codes == [200, 429, 200]


def test_a_refused_update_keeps_the_random_sequence(proxy_factory):
    proxy = proxy_factory(twerr_seed=7)
    chooser = proxy.injector.chooser
    first = chooser.rng.random()
    with pytest.raises(exceptions.OptionsError):
        proxy.tctx.options.update(twerr_seed=8, twerr_max_faults=0)
    assert (chooser.seed, proxy.tctx.options.twerr_seed) == (7, 7)
    reference = random.Random(7)
    assert reference.random() == first
    assert chooser.rng.random() == reference.random()  # the sequence went on, not over


def test_the_hooks_refuse_a_synchronous_call(proxy_factory):
    proxy = proxy_factory(twerr_inject=[":~all:187"])
    with pytest.raises(Exception, match="cannot be called from sync context"):
        proxy.tctx.master.addons.invoke_addon_sync(proxy.twerr, HttpRequestHook(make_flow()))
