"""WindowStore throughput and memory, against the naive reference measured in the same run.

Prints runs/s added and evaluations/s for the store and for tests/naive.py on the same
workload (and their ratio), the time to evaluate 2,000 series, and the RSS of a fresh process
holding 1,000 journeys x 2 locations with a fully populated 30-day period.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cxj_processors.model import RunRecords, SeriesContract
from cxj_processors.windows import WindowStore

REPO = Path(__file__).resolve().parents[1]
NOW = 1_749_996_000.0
CONTRACT = SeriesContract(0.995, 30, "occurrences", 0, 1.0, 2.0, 50, 30, 20)
SLICED = SeriesContract(0.99, 30, "timeslices", 300, 1.0, 2.0, 50, 30, 20)


def workload(
    series: int, hours: int, interval_s: int, seed: int = 1
) -> list[tuple[float, RunRecords]]:
    """Hourly batches (now, runs) of every series running every interval, slightly shuffled."""
    rng = np.random.default_rng(seed)
    per_hour = 3600 // interval_s
    batches = []
    for hour in range(hours):
        now = NOW - (hours - hour - 1) * 3600.0
        n = series * per_hour
        ends = now - 3600 + np.tile(np.arange(per_hour) * interval_s, series) + rng.uniform(0, 5, n)
        ends = np.minimum(ends, now)
        order = rng.permutation(n)  # arrival order is not event order
        outcome = rng.choice(np.array([0] * 97 + [1, 1, 2], dtype=np.int8), n)
        batches.append((
            now,
            RunRecords(
                series=np.repeat(np.arange(series, dtype=np.int32), per_hour)[order],
                end_s=ends[order],
                duration_s=rng.lognormal(0.0, 0.6, n),
                outcome=outcome,
                layer=np.where(outcome > 0, rng.integers(0, 4, n), -1).astype(np.int8),
                mos_out=rng.uniform(3.0, 4.4, n),
                mos_in=rng.uniform(3.0, 4.4, n),
                trace_hi=rng.integers(1, 2**63, n).astype(np.uint64),
                trace_lo=rng.integers(1, 2**63, n).astype(np.uint64),
            ),
        ))  # fmt: skip
    return batches


def _add_rate(
    store: object, batches: list[tuple[float, RunRecords]], contracts: list[SeriesContract]
) -> float:
    runs = sum(len(r) for _, r in batches)
    start = time.perf_counter()
    for now, records in batches:
        store.add(records, contracts, now)  # type: ignore[attr-defined]
    return runs / (time.perf_counter() - start)


def _evaluate_rate(
    store: object, contracts: list[SeriesContract], now: float, seconds: float
) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for series, contract in enumerate(contracts):
            store.evaluate(series, contract, now)  # type: ignore[attr-defined]
        count += len(contracts)
    return count / (time.perf_counter() - start)


def compare_with_naive() -> None:
    """Same workload through both: 20 series, one day of 1-minute runs."""
    from tests.naive import NaiveStore

    contracts = [CONTRACT, SLICED] * 10
    batches = workload(len(contracts), 24, 60)
    warm = WindowStore()
    warm.add(batches[0][1], contracts, batches[0][0])  # compile or load the kernels first
    warm.evaluate(0, CONTRACT, batches[0][0])
    warm.evaluate(1, SLICED, batches[0][0])
    store, naive = WindowStore(), NaiveStore()
    ours = _add_rate(store, batches, contracts)
    theirs = _add_rate(naive, batches, contracts)
    now = batches[-1][0]
    ours_eval = _evaluate_rate(store, contracts, now, 1.0)
    theirs_eval = _evaluate_rate(naive, contracts[:2], now, 1.0)
    print(f"add       store {ours:12,.0f} runs/s   naive {theirs:10,.0f} runs/s   "
          f"ratio {ours / theirs:8,.0f}x")  # fmt: skip
    print(f"evaluate  store {ours_eval:12,.0f} /s       naive {theirs_eval:10,.1f} /s       "
          f"ratio {ours_eval / theirs_eval:8,.0f}x   (20 series, 28,800 runs)")  # fmt: skip


def memory_probe() -> None:
    """Run in a fresh process: populate 2,000 series over 30 days, print figures as JSON."""
    import psutil

    process = psutil.Process()
    warm = WindowStore()
    warm.add(workload(1, 1, 60)[0][1], [CONTRACT], NOW)
    warm.evaluate(0, CONTRACT, NOW)
    before = process.memory_info().rss
    series = 2000
    contracts = [CONTRACT, SLICED] * (series // 2)
    store = WindowStore()
    runs = 0
    elapsed = 0.0
    for hour in range(30 * 24):  # one generated hour at a time keeps the generator small
        ((now, records),) = workload(series, 1, 60, seed=hour)
        now = NOW - (30 * 24 - hour - 1) * 3600.0
        records = RunRecords(**{**records.__dict__, "end_s": records.end_s - NOW + now})
        start = time.perf_counter()
        store.add(records, contracts, now)
        elapsed += time.perf_counter() - start
        runs += len(records)
    start = time.perf_counter()
    for s, contract in enumerate(contracts):
        store.evaluate(s, contract, now)
    pass_s = time.perf_counter() - start
    print(json.dumps({
        "rss_before_mb": before / 2**20, "rss_after_mb": process.memory_info().rss / 2**20,
        "store_mb": store.nbytes() / 2**20, "runs": runs, "add_runs_per_s": runs / elapsed,
        "evaluate_2000_s": pass_s, "coarse_filled": int((store.coarse[:, :, 0] > 0).sum()),
        "coarse_slots": int(store.coarse[:, :, 0].size),
    }))  # fmt: skip


def main() -> None:
    compare_with_naive()
    probe = subprocess.run(
        [sys.executable, "-c", "from benchmarks.bench_windows import memory_probe; memory_probe()"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip
    figures = json.loads(probe.stdout.strip().splitlines()[-1])
    print(f"full store: 1,000 journeys x 2 locations x 30 days of 1-minute runs "
          f"({figures['runs']:,} runs, {figures['coarse_filled']:,}/{figures['coarse_slots']:,} "
          f"hour slots filled)")  # fmt: skip
    print(f"  store arrays           {figures['store_mb']:8.1f} MB")
    print(f"  RSS before the store   {figures['rss_before_mb']:8.1f} MB (python, numpy, numba)")
    print(f"  RSS with the store     {figures['rss_after_mb']:8.1f} MB "
          f"(+{figures['rss_after_mb'] - figures['rss_before_mb']:.1f} MB)")  # fmt: skip
    print(f"  add                    {figures['add_runs_per_s']:12,.0f} runs/s (hourly batches "
          f"of 120,000 runs)")  # fmt: skip
    seconds = figures["evaluate_2000_s"]
    print(f"  evaluate 2,000 series  {seconds * 1000:8.1f} ms per pass "
          f"({seconds / 10 * 100:.1f} % of one core at one pass every 10 s)")  # fmt: skip
    if not math.isfinite(seconds):
        raise SystemExit("evaluation failed")


if __name__ == "__main__":
    main()
