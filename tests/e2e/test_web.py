"""mitmweb as people use it: `scripts/web` over a recording, read through its API and in a real
headless Chromium (Debian's, installed by scripts/install-ui-tools)."""

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from mitmproxy import io as mitmio
from mitmproxy.utils.emoji import emoji

import corpus
from processes import SCRIPT
from processes import WEB_PASSWORD
from processes import Mitmweb
from processes import mitmdump_command

pytestmark = pytest.mark.e2e

BY_ID = {sample.id: sample for sample in corpus.load().responses}
CHROMIUM = shutil.which("chromium")
INJECTED = {
    "rule": "twerr_inject[0]",
    "spec": "~u statuses/update -> 187",
    "fault": "187",
    "phase": "request",
    "seed": 1,
    "match": 1,
    "injection": 1,
    "draw": None,
}


def copy_of(sample_id: str, start: float):
    flow = corpus.make_flow(BY_ID[sample_id])
    flow.id = str(uuid.uuid4())
    flow.request.timestamp_start = start
    flow.response.timestamp_start = flow.response.timestamp_end = start + 0.1
    return flow


def recording(tmp_path):
    """The bundled flows, plus a client that retried a 429 ten seconds later (an audit
    finding) and an injected 187: the file, the number of flows, and the ids of the three."""
    flows = corpus.make_flows()
    first_429 = copy_of("v1.1-88-rate-limit", 1648976000.0)
    retry = copy_of("v1.1-88-rate-limit", 1648976010.0)
    injected = copy_of("v1.1-187-duplicate", 1648976020.0)
    injected.metadata["twerr"] = {"injected": INJECTED}
    path = tmp_path / "session.mitm"
    with path.open("wb") as file:
        writer = mitmio.FlowWriter(file)
        for flow in [*flows, first_429, retry, injected]:
            writer.add(flow)
    ids = {"retry": retry.id, "injected": injected.id, "first": first_429.id}
    return path, len(flows) + 3, ids


@pytest.fixture
def web(tmp_path):
    """mitmweb (`scripts/web`) over the recording."""
    path, count, ids = recording(tmp_path)
    proxy = Mitmweb(tmp_path, "-r", str(path))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {WEB_PASSWORD}"
    deadline = time.monotonic() + 30
    while len(session.get(f"{proxy.url}/flows", timeout=5).json()) < count:
        assert time.monotonic() < deadline, proxy.log.read_text()
        time.sleep(0.2)
    yield proxy, session, ids
    proxy.stop()


def test_the_flows_api_carries_the_annotations(web):
    proxy, session, ids = web
    flows = {flow["id"]: flow for flow in session.get(f"{proxy.url}/flows").json()}
    duplicate = flows[corpus.make_flows()[4].id]
    assert duplicate["request"]["path"] == "/1.1/statuses/update.json"
    assert duplicate["comment"] == (
        "187 Status is a duplicate — "
        "The status text has already been Tweeted by the authenticated account."
    )
    assert duplicate["marked"] == emoji[":warning:"]
    assert flows[ids["first"]]["marked"] == emoji[":hourglass:"]
    retry = flows[ids["retry"]]
    assert retry["marked"] == emoji[":stop_sign:"]
    assert (
        retry["comment"]
        .splitlines()[-1]
        .startswith("audit: retry too early — retried 670.0 s before the rate limit resets")
    )
    injected = flows[ids["injected"]]
    assert injected["marked"] == emoji[":syringe:"]
    assert (
        injected["comment"]
        .splitlines()[-1]
        .startswith("injected by twerr: 187 at request phase; rule twerr_inject[0]")
    )
    successes = [f for f in flows.values() if f["response"]["status_code"] in (200, 304)]
    assert sum(1 for f in successes if not f["comment"]) >= 4


def test_the_content_view_through_the_api(web):
    proxy, session, ids = web
    view = session.get(f"{proxy.url}/flows/{ids['retry']}/response/content/auto.json").json()
    assert view["view_name"] == "Twitter Error"
    lines = view["text"].splitlines()
    assert lines[0] == "HTTP 429 Too Many Requests · v1.1 · shape v1.1-errors"
    assert lines[1].startswith("Audit: retry too early — retried 670.0 s before")
    assert "  meaning:  The request limit for this resource has been reached" in view["text"]
    advice = next(line for line in lines if line.startswith("Advice: "))
    assert advice.startswith("Advice: blocked by the 15-minute window (0/900, resets ")
    assert advice.endswith("09:04:40Z).")
    assert "  15-minute window: 0/900 remaining, resets 2022-04-03T09:04:40Z" in lines


@pytest.mark.skipif(not CHROMIUM, reason="no chromium: scripts/install-ui-tools could not add it")
def test_in_a_real_browser(web, tmp_path):
    from playwright.sync_api import sync_playwright

    proxy, _, _ = web
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1900})
            page.goto(f"{proxy.url}/?token={WEB_PASSWORD}")
            rows = page.locator("tr.has-response")
            rows.nth(52).wait_for(timeout=15_000)  # the list draws the rows in view: all here
            assert rows.count() == 53

            def row(text: str, without: str = "no such text"):
                return rows.filter(has_text=text).filter(has_not_text=without)

            duplicate = row("187 Status is a duplicate —", without="injected by").first
            assert duplicate.locator("td.col-path .marker").inner_text() == emoji[":warning:"]
            assert (
                duplicate.locator("td.col-comment")
                .inner_text()
                .startswith("187 Status is a duplicate — The status text has already been Tweeted")
            )
            assert (
                row("Rate limit exceeded").first.locator(".marker").inner_text()
                == emoji[":hourglass:"]
            )
            assert (
                row("audit: retry too early").locator(".marker").inner_text()
                == emoji[":stop_sign:"]
            )
            assert row("injected by twerr").locator(".marker").inner_text() == emoji[":syringe:"]
            page.screenshot(path=str(tmp_path / "mitmweb-flow-list.png"))

            row("audit: retry too early").locator("td.col-path").click()
            page.get_by_text("Response", exact=True).first.click()
            view = page.locator(".contentview")
            view.get_by_text("Twitter Error").first.wait_for(timeout=10_000)
            text = view.inner_text()
            assert "Audit: retry too early — retried 670.0 s before the rate limit resets" in text
            assert "88 Rate limit exceeded" in text
            assert "retry:    retry after the rate-limit reset" in text
            assert "15-minute window: 0/900 remaining" in text
            page.screenshot(path=str(tmp_path / "mitmweb-twitter-error-view.png"))
        finally:
            browser.close()
    print(f"screenshots in {tmp_path}")


@pytest.mark.skipif(not shutil.which("tmux"), reason="no tmux to run the console in")
def test_in_the_console(tmp_path):
    """`mitmproxy` in a terminal (tmux): the audit's marker in the flow list, filtered with
    `~marker`, and the Twitter Error view on the flow's Response tab."""
    path, _, _ = recording(tmp_path)
    console = str(Path(mitmdump_command()[0]).with_name("mitmproxy"))
    tmux = ["tmux", "-L", f"twerr-{uuid.uuid4().hex[:8]}"]
    command = (
        f"TERM=xterm-256color {console} -n -r {path} -s {SCRIPT} "
        f"--set confdir={tmp_path / 'confdir'} --set view_filter='~marker stop_sign'"
    )
    subprocess.run([*tmux, "new-session", "-d", "-x", "200", "-y", "60", command], check=True)

    def screen_with(text: str) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True
            ).stdout
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never showed:\n{screen}")

    try:
        listed = screen_with(emoji[":stop_sign:"])
        (row,) = [line for line in listed.splitlines() if emoji[":stop_sign:"] in line]
        assert "GET" in row and "/1.1/statuses/user_timeline.json" in row and "429" in row
        subprocess.run([*tmux, "send-keys", "Enter"], check=True)
        screen_with("Flow Details")
        subprocess.run([*tmux, "send-keys", "Tab"], check=True)
        shown = screen_with("Audit: retry too early")
        assert "Twitter Error" in shown
        assert "  meaning:  The request limit for this resource has been reached" in shown
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
