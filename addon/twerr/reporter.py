"""The report addon: the session's errors, by kind, endpoint and category, and the coverage
matrix, from the metadata the classifier and the audit wrote. Printed at exit, returned by
`twerr.report`, written as JSON or HTML by `twerr.report.save` and the `twerr_report` option."""

from __future__ import annotations

import logging
from pathlib import Path

from mitmproxy import addonmanager
from mitmproxy import command
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import types

from twerr import guard
from twerr.report import Report
from twerr.report import render_text
from twerr.report import write_report
from twerr.scope import Scope

logger = logging.getLogger(__name__)

FORMATS = (".json", ".html")


class Reporter:
    def __init__(self, scope: Scope | None = None) -> None:
        self.scope = scope or Scope()
        self.report = Report()

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "twerr_report",
            str,
            "",
            "Write the session's report to this file when mitmproxy stops: a .json file, or "
            "a .html page (tables and a chart of errors over time, readable offline).",
        )

    def configure(self, updated: set[str]) -> None:
        if "twerr_report" in updated and ctx.options.twerr_report:
            check_report_path(ctx.options.twerr_report, "twerr_report option")
        if "twerr_audit" in updated:  # the audit's option: without it, no client verdicts
            self.report.audited = ctx.options.twerr_audit

    @guard.hook
    def response(self, flow: http.HTTPFlow) -> None:
        self._add(flow)

    @guard.hook
    def error(self, flow: http.HTTPFlow) -> None:
        self._add(flow)

    def done(self) -> None:
        if self.report.responses:
            logger.info(render_text(self.report.to_dict()))
        if ctx.options.twerr_report:
            path = write_report(self.report.to_dict(), ctx.options.twerr_report)
            logger.info(f"twerr: report written to {path}")

    @command.command("twerr.report")
    def show(self) -> str:
        """The report so far: errors by kind and endpoint, injected and real, the audit's
        verdicts, and the endpoint x error coverage matrix."""
        return render_text(self.report.to_dict())

    @command.command("twerr.report.save")
    def save(self, path: types.Path) -> None:
        """Write the report so far to a .json or .html file."""
        try:
            check_report_path(path, "twerr.report.save")
        except exceptions.OptionsError as e:
            raise exceptions.CommandError(str(e)) from e
        logger.info(f"twerr: report written to {write_report(self.report.to_dict(), path)}")

    def _add(self, flow: http.HTTPFlow) -> None:
        meta = self.scope.annotated(flow)
        if meta is not None:
            request = flow.request
            self.report.add(
                meta, method=request.method, path=request.path, when=request.timestamp_start
            )


def check_report_path(path: str, what: str) -> None:
    target = Path(path).expanduser()
    if target.suffix.lower() not in FORMATS:
        raise exceptions.OptionsError(
            f"Cannot use {what} {path!r}: the file must end in .json or .html"
        )
    if not target.parent.is_dir():
        raise exceptions.OptionsError(
            f"Cannot use {what} {path!r}: the folder {str(target.parent)!r} does not exist"
        )
