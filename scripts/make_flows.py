"""Write flows/twitter-api.mitm from the reference responses in tests/data/corpus.toml."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from mitmproxy import io  # noqa: E402

import corpus  # noqa: E402

FLOWS = ROOT / "flows" / "twitter-api.mitm"


def write(path: Path) -> int:
    flows = corpus.make_flows()
    with path.open("wb") as file:
        writer = io.FlowWriter(file)
        for flow in flows:
            writer.add(flow)
    return len(flows)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else FLOWS
    print(f"wrote {write(target)} flows to {target}")
