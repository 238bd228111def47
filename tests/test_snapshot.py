"""The bundled flows give the metadata, comments, markers and report they gave before the
redesign (tests/data/metadata-snapshot.json; see tests/snapshots.py)."""

import json

import pytest

from snapshots import SNAPSHOT
from snapshots import take


@pytest.fixture(scope="module")
def now():
    return take()


@pytest.fixture(scope="module")
def before():
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


@pytest.mark.parametrize("part", ["bundled", "one client"])
def test_every_flow_is_annotated_as_before(now, before, part):
    assert now[part].keys() == before[part].keys()
    for flow_id, was in before[part].items():
        assert now[part][flow_id] == was, flow_id


@pytest.mark.parametrize("part", ["bundled report", "one client report"])
def test_the_report_is_as_before(now, before, part):
    assert now[part] == before[part]


def test_the_snapshot_holds_errors_and_findings(before):
    metas = [flow["twerr"] for flow in before["one client"].values()]
    assert sum(1 for meta in metas if meta and meta["errors"]) > 20
    assert any(meta and meta["audit"] for meta in metas)
