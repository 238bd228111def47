"""Print the fidelity matrix: does each client see twerr's forged errors as it sees real ones?

Usage: scripts/fidelity [regular|reverse ...]   (default: both proxy modes)
A cell is "same" when the client's view of the forged response equals its view of the real
(or documented) one; otherwise the difference is printed. Exits 1 if any cell differs.
"""

import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "addon"), str(ROOT / "tests")]

import fidelity  # noqa: E402


def main(modes: list[str]) -> int:
    why_not_node = fidelity.node_available()
    if why_not_node:
        print(f"twitter-api-v2 (node) skipped: {why_not_node}")
    differing = 0
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            with fidelity.setup(mode, Path(tmp)) as setup:
                cells = fidelity.run(setup, with_node=why_not_node is None)
            differing += print_matrix(mode, cells)
    return 1 if differing else 0


def print_matrix(mode: str, cells: list[fidelity.Cell]) -> int:
    clients = sorted({cell.client for cell in cells})
    rows: dict[str, dict[str, str]] = defaultdict(dict)
    for cell in cells:
        rows[cell.case.id][cell.client] = "same" if cell.same else "DIFFERS"
    width = max(len(case) for case in rows)
    print(f"\n{mode} proxy mode: {len(rows)} errors x {len(clients)} clients (* captured)")
    print(" " * width + "  " + "  ".join(f"{c:>22}" for c in clients))
    captured = {cell.case.id for cell in cells if cell.case.captured}
    for case, verdicts in rows.items():
        line = "  ".join(f"{verdicts.get(c, '-'):>22}" for c in clients)
        mark = "*" if case in captured else " "
        print(f"{case:{width}}{mark} {line}")
    bad = [cell for cell in cells if not cell.same]
    same = len(cells) - len(bad)
    print(f"{same} of {len(cells)} cells the same")
    kinds = {
        "captured": {c.case.id for c in cells if c.case.captured},
        "network": {c.case.id for c in cells if c.case.network},
    }
    documented = len(rows) - len(kinds["captured"]) - len(kinds["network"])
    print(
        f"references: {len(kinds['captured'])} errors against captured responses, "
        f"{len(kinds['network'])} network faults against a failing server, {documented} "
        "against the documented response written from the catalog (these check that the "
        "forgery keeps to the catalog, not that the catalog is right)"
    )
    for cell in bad:
        print(f"  {cell.case.id} / {cell.client}: {cell.difference()}")
    return len(bad)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["regular", "reverse"]))
