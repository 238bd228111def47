"""twerr: run with `mitmdump -s addon/twerr_addon.py` (or mitmweb, mitmproxy)."""

from twerr.classify import Classifier
from twerr.inject import Injector
from twerr.scope import Scope
from twerr.streams import Streams
from twerr.view import TwitterErrorView

scope = Scope()
# The injector comes first: what it forges then passes through the classifier like the API's own.
# Streams comes before it: a fault that replaces a stream's response buffers it again.
addons = [scope, Streams(scope), Injector(scope), Classifier(scope), TwitterErrorView()]
