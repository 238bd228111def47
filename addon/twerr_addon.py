"""twerr: run with `mitmdump -s addon/twerr_addon.py` (or mitmweb, mitmproxy)."""

from twerr.classify import Classifier
from twerr.view import TwitterErrorView

addons = [Classifier(), TwitterErrorView()]
