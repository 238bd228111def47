"""The mitmproxy scripts twerr ships. mitmproxy puts a script's folder on `sys.path` for good,
so this folder holds nothing but them: twerr's own modules stay out of the top-level names."""

from pathlib import Path

ADDON = Path(__file__).with_name("twerr_addon.py")
CONTROL = Path(__file__).with_name("twerr_control.py")
