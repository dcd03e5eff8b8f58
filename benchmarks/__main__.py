"""Runs every benchmark module in turn (`make bench`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from tests.harness.processes import stop_servers_on_termination


def main() -> int:
    folder = Path(__file__).parent
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.startswith("bench_")
    )
    selected = sys.argv[1:] or names
    stop_servers_on_termination()  # a terminated run stops the servers it started
    for name in selected:
        print(f"\n### {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
