"""twerr as a mitmproxy script: `mitmdump -s "$(twerr addon-path)"` (or `twerr dump`, which
loads it; mitmweb and mitmproxy take it the same way). In a checkout, `addon/twerr_addon.py`
is a symbolic link to this file."""

from mitmproxy import contentviews

from twerr.addon import Twerr
from twerr.view import twitter_error_view

addons = [Twerr()]
# The "Twitter Error" content view, registered as mitmproxy's own examples register one: when
# the script loads (a reload replaces it, by name), not by an addon that every event would visit.
contentviews.add(twitter_error_view)
