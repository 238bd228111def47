"""twerr: run with `mitmdump -s addon/twerr_addon.py` (or mitmweb, mitmproxy)."""

from twerr.audit import Audit
from twerr.classify import Classifier
from twerr.inject import Injector
from twerr.reporter import Reporter
from twerr.scope import Scope
from twerr.streams import Streams
from twerr.view import TwitterErrorView

scope = Scope()
# Streams comes first: a fault that replaces a stream's response buffers it again. The injector
# comes next: what it forges then passes through the classifier like the API's own; the audit
# reads what the classifier wrote, and the reporter what both wrote.
addons = [
    scope,
    Streams(scope),
    Injector(scope),
    Classifier(scope),
    Audit(scope),
    Reporter(scope),
    TwitterErrorView(),
]
