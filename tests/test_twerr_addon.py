"""The script users pass to mitmdump, loaded the way `-s` loads it."""

import dataclasses
from pathlib import Path

from mitmproxy import contentviews
from mitmproxy.addons import script
from mitmproxy.test import taddons

SCRIPT = Path(__file__).parents[1] / "addon" / "twerr_addon.py"


def test_script_loads_one_addon_that_wires_the_components_in_order(monkeypatch):
    # the script registers the content view as it loads: not left over from another test
    monkeypatch.delitem(contentviews.registry._by_name, "twitter error", raising=False)
    with taddons.context() as tctx:
        loaded = script.Script(str(SCRIPT), reload=False)
        [twerr] = loaded.ns.addons
        parts = twerr.parts
        names = [type(getattr(parts, field.name)).__name__ for field in dataclasses.fields(parts)]
        assert names == ["Scope", "Streams", "Injector", "Classifier", "Audit", "Reporter"]
        assert parts.classifier.followers == (parts.audit, parts.reporter)
        assert parts.injector.scope is parts.scope is parts.classifier.scope
        assert "twerr_scope" in tctx.options
        assert contentviews.registry["twitter error"] is loaded.ns.twitter_error_view
