"""The control addon of `twerr.testing`'s proxies, loaded after twerr_addon.py: it lets a test
drive the proxy it started (twerr/testing/control.py). Of no use outside them."""

from twerr.testing.control import Control

addons = [Control()]
