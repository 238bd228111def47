"""A failing twerr hook costs twerr's work on that flow, never the flow: what the hook changed
is put back, one log line names the flow, and the flow goes on as if twerr were not there."""

import asyncio
import logging
import time

import pytest
from mitmproxy import flow as mitmflow
from mitmproxy import http
from mitmproxy.proxy.layers.http import HttpErrorHook
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpResponseHook
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from twerr import classify
from twerr import flowlog
from twerr import record
from twerr.addon import Twerr
from twerr.inject import answer
from twerr.inject import injector as inject
from twerr.inject.injector import Injector
from twerr.report import tables as report

SECRET = "AAAAAAAAAAAAAAAAAAAAAguardSecretBearer0001"
UPSTREAM = b'{"errors":[{"code":187,"message":"Status is a duplicate."}]}'


def make_flow() -> http.HTTPFlow:
    flow = tflow.tflow(live=True)
    flow.request = http.Request.make(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json?oauth_token=querysecret",
        b"",
        {"authorization": f"Bearer {SECRET}"},
    )
    flow.comment = "mine"
    flow.marked = ""
    return flow


def boom(*args, **kwargs):
    raise RuntimeError(f"exploded near Bearer {SECRET}")


async def send(tctx: taddons.context, flow: http.HTTPFlow) -> http.HTTPFlow:
    """The hooks mitmproxy calls for a flow; upstream answers 403 187 if nobody did."""
    addons = tctx.master.addons
    await addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await addons.handle_lifecycle(HttpRequestHook(flow))
    if flow.error:
        await addons.handle_lifecycle(HttpErrorHook(flow))
        return flow
    if flow.response is None:
        flow.response = http.Response.make(403, UPSTREAM, {"content-type": "application/json"})
    await addons.handle_lifecycle(HttpResponseHeadersHook(flow))
    await addons.handle_lifecycle(HttpResponseHook(flow))
    return flow


def run(options: dict, *flows: http.HTTPFlow) -> tuple[http.HTTPFlow, Injector]:
    """The flows through the addon of twerr_addon.py, one after another; the last one back."""
    twerr = Twerr()
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_seed=1, **options)
        for flow in flows:
            asyncio.run(send(tctx, flow))
    return flows[-1], twerr.parts.injector


def failures(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def assert_logged_once(caplog, hook: str, flow: http.HTTPFlow) -> None:
    [record] = failures(caplog)  # once: not also mitmproxy's "Addon error"
    text = record.getMessage()
    assert hook in text and flow.id in text
    assert "POST api.twitter.com/1.1/statuses/update.json" in text
    assert "RuntimeError" in text and "Traceback" not in caplog.text.split(hook)[0]
    assert SECRET not in caplog.text and "querysecret" not in caplog.text


@pytest.mark.parametrize(
    "target,name",
    [
        (classify, "decode"),  # before anything is written
        (classify.explain, "marker"),  # after the comment is written, before the metadata
        (classify.explain, "log_line"),  # after everything is written
    ],
)
def test_a_classifier_failure_leaves_the_flow_as_it_was(monkeypatch, caplog, target, name):
    monkeypatch.setattr(target, name, boom)
    caplog.set_level(logging.INFO)  # as in mitmproxy: the per-flow line is made, and fails
    flow, _ = run({}, make_flow())
    assert flow.response.status_code == 403 and flow.response.content == UPSTREAM
    assert (flow.comment, flow.marked, "twerr" in flow.metadata) == ("mine", "", False)
    assert_logged_once(caplog, "Classifier.response", flow)


def test_a_failure_while_forging_lets_the_request_go_upstream(monkeypatch, caplog):
    monkeypatch.setattr(answer, "forge", boom)
    flow, injector = run({"twerr_inject": [":~u update:130"]}, make_flow())
    assert flow.response.status_code == 403 and flow.response.content == UPSTREAM  # upstream's
    assert flow.metadata["twerr"]["injected"] is None
    assert not injector.pending and not injector.active
    assert_logged_once(caplog, "Injector.request", flow)


@pytest.mark.parametrize("phase", ["request", "response"])
def test_a_fault_that_fails_partway_gives_its_rule_its_count_back(monkeypatch, caplog, phase):
    real_forge, calls = answer.forge, []

    def fails_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            boom()
        return real_forge(*args, **kwargs)

    monkeypatch.setattr(answer, "forge", fails_once)
    first, second = make_flow(), make_flow()
    _, injector = run({"twerr_inject": [f":~u update:130:times=1,phase={phase}"]}, first, second)
    assert first.response.status_code == 403 and first.metadata["twerr"]["injected"] is None
    assert second.response.status_code == 503  # times=1 was not spent on the failed one
    assert second.metadata["twerr"]["injected"]["fault"] == "130"
    [summary] = injector.summary()
    assert "1 injected of 2 matched, 1 skipped (twerr failed while injecting)" in summary


def test_a_failure_after_a_kill_takes_the_kill_back(monkeypatch, caplog):
    monkeypatch.setattr(record, "set_injected", boom)
    flow, injector = run({"twerr_inject": [":~u update:empty"]}, make_flow())
    assert flow.error is None and flow.live
    assert flow.response.status_code == 403 and flow.response.content == UPSTREAM
    assert not injector.pending and not injector.active
    assert_logged_once(caplog, "Injector.request", flow)


def test_a_failure_in_the_response_phase_keeps_the_apis_answer(monkeypatch, caplog):
    monkeypatch.setattr(inject, "original", boom)
    flow, injector = run({"twerr_inject": [":~u update:http503:phase=response"]}, make_flow())
    assert flow.response.status_code == 403 and flow.response.content == UPSTREAM
    assert not injector.pending and not injector.active
    assert_logged_once(caplog, "Injector.response", flow)


def test_an_error_hook_failure_is_caught_too(monkeypatch, caplog):
    monkeypatch.setattr(classify, "decode_failure", boom)
    flow = make_flow()
    flow.error = mitmflow.Error("Connection reset.")
    with taddons.context(Twerr()) as tctx:
        asyncio.run(tctx.master.addons.handle_lifecycle(HttpErrorHook(flow)))
    assert (flow.comment, "twerr" in flow.metadata) == ("mine", False)
    assert_logged_once(caplog, "Classifier.error", flow)


def test_guarded_hooks_still_refuse_a_synchronous_call():
    twerr = Twerr()
    with taddons.context(twerr) as tctx:
        tctx.configure(twerr, twerr_inject=[":~all:187"])
        with pytest.raises(Exception, match="cannot be called from sync context"):
            tctx.master.addons.invoke_addon_sync(twerr, HttpRequestHook(make_flow()))


def test_an_audit_failure_leaves_the_classifiers_work(monkeypatch, caplog):
    say = flowlog.FlowLog.say

    def fails_for_findings(log, level, key, text):  # the audit's line, after the finding
        if level == logging.WARNING:
            boom()
        say(log, level, key, text)

    monkeypatch.setattr(flowlog.FlowLog, "say", fails_for_findings)
    again = make_flow()
    again.request.timestamp_start = time.time() + 60  # after the first one's answer
    flow, _ = run({}, make_flow(), again)  # the same duplicate post, twice
    assert flow.response.content == UPSTREAM
    meta = flow.metadata["twerr"]
    assert meta["audit"] is None and meta["marker"] == ":warning:" == flow.marked
    assert flow.comment == "mine\n" + meta["comment"] and "audit:" not in flow.comment
    assert_logged_once(caplog, "Audit.judge", flow)


def test_a_report_failure_leaves_the_flow_alone(monkeypatch, caplog):
    monkeypatch.setattr(report.Report, "add", boom)
    flow, _ = run({}, make_flow())
    assert flow.response.content == UPSTREAM and flow.metadata["twerr"]["errors"]
    assert_logged_once(caplog, "Reporter.classified", flow)
