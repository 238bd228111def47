"""twerr: run with `mitmdump -s addon/twerr_addon.py` (or mitmweb, mitmproxy)."""

from mitmproxy import contentviews

from twerr.audit import Audit
from twerr.classify import Classifier
from twerr.inject import Injector
from twerr.reporter import Reporter
from twerr.scope import Scope
from twerr.streams import Streams
from twerr.view import twitter_error_view

scope = Scope()
audit, reporter = Audit(), Reporter()
# Streams comes first: a fault that replaces a stream's response buffers it again. The injector
# comes next: what it forges then passes through the classifier like the API's own. The
# classifier hands each flow it classified to the audit, then to the reporter, which reports
# what both wrote.
addons = [
    scope,
    Streams(scope),
    Injector(scope),
    Classifier(scope, followers=[audit, reporter]),
    audit,
    reporter,
]
# The "Twitter Error" content view, registered as mitmproxy's own examples register one: when
# the script loads (a reload replaces it, by name), not by an addon that every event would visit.
contentviews.add(twitter_error_view)
