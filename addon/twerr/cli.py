"""The `twerr` command (and `python -m twerr`): mitmdump and mitmweb with twerr loaded, the
report of recorded flows, and where the addon script is.

`--version`, `addon-path` and the help import nothing from mitmproxy: they answer at once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import metadata

import twerr
from twerr.script import ADDON

USAGE = """\
usage: twerr COMMAND [ARGS...]

commands:
  dump [ARGS...]     mitmdump with twerr loaded; ARGS go to mitmdump (twerr dump --help)
  web [ARGS...]      mitmweb with twerr loaded and a Comment column in the flow list
  report FILE...     the report of recorded flows, .mitm or HAR (twerr report --help)
  addon-path         the path of twerr's addon script: mitmdump -s "$(twerr addon-path)"

options:
  -h, --help         this help
  --version          twerr's version (and mitmproxy's)
"""

# mitmweb's flow list with a Comment column, where twerr's annotations show (scripts/web)
WEB_COLUMNS = ("tls", "icon", "path", "method", "status", "size", "time", "comment")


def version() -> str:
    try:
        mitmproxy = metadata.version("mitmproxy")
    except metadata.PackageNotFoundError:  # pragma: no cover (a dependency)
        mitmproxy = "not installed"
    return f"twerr {twerr.__version__} (mitmproxy {mitmproxy})"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(USAGE, end="", file=sys.stderr)
        return 2
    command, rest = args[0], args[1:]
    if command in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if command == "--version":
        print(version())
        return 0
    if command == "addon-path":
        print(ADDON)
        return 0
    if command == "dump":
        from mitmproxy.tools.main import mitmdump

        mitmdump(["-s", str(ADDON), *rest])  # exits by itself on a bad option
        return 0
    if command == "web":
        from mitmproxy.tools.main import mitmweb

        columns = [f"--set=web_columns={column}" for column in WEB_COLUMNS]
        mitmweb(["-s", str(ADDON), *columns, *rest])
        return 0
    if command == "report":
        from twerr.report.cli import main as report

        return report(["report", *rest])
    print(f"twerr: unknown command {command!r}\n{USAGE}", end="", file=sys.stderr)
    return 2
