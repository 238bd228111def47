"""The line per error flow: printed once, its repeats within seconds counted, not printed."""

import logging

import pytest

from twerr.flowlog import REPEAT_SECONDS
from twerr.flowlog import FlowLog


@pytest.fixture
def clock():
    return [1000.0]


@pytest.fixture
def log(clock):
    return FlowLog(clock=lambda: clock[0])


def printed(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "twerr.flows"]


def test_a_line_that_repeats_at_once_is_counted_and_said_the_next_time(log, clock, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(5):
        log.say(logging.INFO, "429 here", "GET x → 429 88")
        clock[0] += 1
    log.say(logging.INFO, "other", "GET y → 503")  # another line is not held back
    clock[0] += REPEAT_SECONDS
    log.say(logging.INFO, "429 here", "GET x → 429 88")
    assert printed(caplog) == [
        "GET x → 429 88",
        "GET y → 503",
        "GET x → 429 88 (4 more like it since it was last printed)",
    ]


def test_what_is_still_counted_is_said_when_mitmproxy_stops(log, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(3):
        log.say(logging.WARNING, "finding", "GET x: retry too early: retried 800.0 s before")
    log.say(logging.INFO, "once", "GET y → 503")
    log.flush()
    assert printed(caplog) == [
        "GET x: retry too early: retried 800.0 s before",
        "GET y → 503",
        "GET x: retry too early: retried 800.0 s before (2 more like it since)",
    ]
    assert [r.levelno for r in caplog.records][-1] == logging.WARNING
    log.flush()
    assert len(printed(caplog)) == 3  # said once


def test_nothing_is_counted_while_the_logger_is_off(log, caplog):
    caplog.set_level(logging.ERROR, logger="twerr.flows")
    log.say(logging.INFO, "k", "text")
    assert log.printed == {}


def test_a_line_printed_with_a_count_is_not_counted_twice_at_exit(log, clock, caplog):
    caplog.set_level(logging.INFO)
    for at in (0, 1, 2, 11, 12, 13):
        clock[0] = 1000.0 + at
        log.say(logging.INFO, "k", "GET x → 429 88")
    log.flush()
    assert printed(caplog) == [
        "GET x → 429 88",
        "GET x → 429 88 (2 more like it since it was last printed)",
        "GET x → 429 88 (2 more like it since)",
    ]
