"""twerr: run with `mitmdump -s addon/twerr_addon.py` (or mitmweb, mitmproxy)."""

from mitmproxy import contentviews

from twerr.addon import Twerr
from twerr.view import twitter_error_view

addons = [Twerr()]
# The "Twitter Error" content view, registered as mitmproxy's own examples register one: when
# the script loads (a reload replaces it, by name), not by an addon that every event would visit.
contentviews.add(twitter_error_view)
