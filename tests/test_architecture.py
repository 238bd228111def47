"""The shape docs/architecture.md describes, kept: small modules and classes, no import cycles,
pure cores, and mitmproxy's internals reached from mitm.py alone."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "addon" / "twerr"
MODULES = sorted(PACKAGE.rglob("*.py"))
PURE = [
    "twerr.catalog",
    "twerr.decode",
    "twerr.record",
    "twerr.explain",
    "twerr.inject.faults",
    "twerr.inject.forge",
    "twerr.inject.partial",
    "twerr.inject.windows",
    "twerr.audit.model",
    "twerr.audit.behaviour",
    "twerr.audit.quota_rules",
    "twerr.report.tables",
    "twerr.report.render",
    "twerr.report.ci",
]
# Not pure, but light: they run in a test suite's own process (the pytest plugin, loaded by
# every pytest where twerr is installed) or answer at once (`twerr --version`).
LIGHT = ["twerr.cli", "twerr.testing", "twerr.testing.plugin", "twerr.testing.launch"]
# What only mitm.py may touch: flowfilter's node classes, the raw fields of a request, the
# legacy log handlers, the proxy server's connection table, the addon chain, net.http.
INTERNALS = re.compile(
    r"flowfilter\.F[A-Z]|\.data\.(headers|authority)|LegacyLogEvents|\"proxyserver\""
    r"|addons\.(add|remove)\(|mitmproxy\.net"
)


def name_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """The twerr modules a module imports as it loads (not under TYPE_CHECKING, not in a
    function)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("twerr"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in NAMES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("twerr")}
    return found


NAMES = {name_of(path) for path in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_no_module_over_400_lines_nor_class_over_250(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= 400
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno - node.lineno + 1 <= 250, node.name


def test_no_import_cycles():
    graph = {name_of(path): top_level_imports(path) & NAMES for path in MODULES}
    for package in {name.rsplit(".", 1)[0] for name in NAMES if "." in name}:
        graph.setdefault(package, set())
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, " -> ".join((*trail, name))
        if name in done:
            return
        for imported in sorted(graph.get(name, ())):
            # a package imports its modules' names; importing a module runs its package first
            if not imported.startswith(name + "."):
                visit(imported, (*trail, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


@pytest.mark.parametrize("module", PURE + LIGHT)
def test_pure_modules_import_nothing_from_mitmproxy(module):
    check = f"import sys, {module}; print(sorted(m for m in sys.modules if 'mitmproxy' in m))"
    done = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE.parent)},
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_mitmproxy_internals_are_reached_from_mitm_py_alone(path):
    if path.name == "mitm.py":
        assert INTERNALS.search(path.read_text())  # the pattern still finds what it guards
        return
    assert not INTERNALS.search(path.read_text())
