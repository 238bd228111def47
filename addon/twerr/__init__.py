"""twerr: understand Twitter/X API errors inside mitmproxy."""

__version__ = "0.1.0"
