"""twerr in a test suite: a proxy with twerr, started for a test and stopped after it.

- pytest: the `twerr_proxy` fixture and the `twerr` marker (plugin.py), registered when twerr
  is installed;
- anything else: `with twerr.testing.proxy(...) as p:`.

Nothing here imports mitmproxy: a test suite that does not use the proxy pays nothing.
"""

from twerr.testing.handle import ProxyError
from twerr.testing.handle import TwerrProxy
from twerr.testing.handle import proxy

__all__ = ["ProxyError", "TwerrProxy", "proxy"]
