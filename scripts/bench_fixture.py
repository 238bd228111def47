"""How long a twerr test proxy (the pytest fixture's, twerr.testing) takes to start and to stop:
the median of 10, with one CA for all as the fixture has it. `scripts/bench-fixture`."""

import statistics
import tempfile
import time
from pathlib import Path

from twerr.testing import TwerrProxy

RUNS = 10


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        confdir = folder / "confdir"  # one CA for the session, as the fixture has it
        TwerrProxy(folder / "first", confdir=confdir).start().stop()  # makes the CA
        starts, stops = [], []
        for run in range(RUNS):
            begun = time.perf_counter()
            proxy = TwerrProxy(folder / str(run), confdir=confdir).start()
            started = time.perf_counter()
            proxy.stop()
            starts.append(started - begun)
            stops.append(time.perf_counter() - started)
    for name, times in (("start", starts), ("stop", stops)):
        print(
            f"{name:5} median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}; {RUNS} runs)"
        )


if __name__ == "__main__":
    main()
