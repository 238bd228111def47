"""The components of twerr, built in the order a flow meets them: the one place that wires them,
for the addon (`addon.Twerr`) and the offline report (`twerr report`) alike."""

from __future__ import annotations

from dataclasses import dataclass

from twerr.audit.audit import Audit
from twerr.classify import Classifier
from twerr.flowlog import FlowLog
from twerr.inject.injector import Injector
from twerr.report.reporter import Reporter
from twerr.scope import Scope
from twerr.streams import Streams


@dataclass(frozen=True, slots=True)
class Components:
    scope: Scope  # which flows are twerr's: every other component asks it
    streams: Streams  # streaming endpoints stream (before a fault may buffer one again)
    injector: Injector  # faults first, so what it forges is classified as the API's own
    classifier: Classifier  # decodes and annotates, then hands the record on
    audit: Audit  # follows the classifier: judges the client, adds its finding
    reporter: Reporter  # follows the audit: reports what both wrote

    @property
    def configurable(self) -> tuple[Scope | Injector | Audit | Reporter, ...]:
        """The components with options, in the order their options are applied."""
        return (self.scope, self.injector, self.audit, self.reporter)


def build() -> Components:
    scope, log = Scope(), FlowLog()
    audit, reporter = Audit(log), Reporter()
    return Components(
        scope=scope,
        streams=Streams(scope),
        injector=Injector(scope),
        classifier=Classifier(scope, followers=(audit, reporter), log=log),
        audit=audit,
        reporter=reporter,
    )
