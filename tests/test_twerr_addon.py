"""The script users pass to mitmdump, loaded the way `-s` loads it."""

from pathlib import Path

from mitmproxy import contentviews
from mitmproxy.addons import script
from mitmproxy.test import taddons

SCRIPT = Path(__file__).parents[1] / "addon" / "twerr_addon.py"


def test_script_loads_and_wires_the_addons(monkeypatch):
    # the script registers the content view as it loads: not left over from another test
    monkeypatch.delitem(contentviews.registry._by_name, "twitter error", raising=False)
    with taddons.context() as tctx:
        loaded = script.Script(str(SCRIPT), reload=False)
        names = [type(addon).__name__ for addon in loaded.ns.addons]
        assert names == [
            "Scope",
            "Streams",
            "Injector",
            "Classifier",
            "Audit",
            "Reporter",
        ]
        assert "twerr_scope" in tctx.options
        assert contentviews.registry["twitter error"] is loaded.ns.twitter_error_view
