"""Emulator throughput: simulated jobs per second for a 30-day, 20-tenant, 8-backend scenario.

Run with `make bench` or `.venv/bin/python -m bench.emulator [--days 30]` from the repository root. Prints the figures; the
target in issue 2 is at least 20,000 simulated jobs per second on one core without telemetry export.
Everything runs in this one process on one core (Aer and polars limited to one thread).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import time  # noqa: E402

from bench.month_scenario import month_scenario  # noqa: E402
from emulator.run import emulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = month_scenario(args.days)
    started = time.perf_counter()
    run = emulate(scenario, args.seed)
    total = time.perf_counter() - started
    jobs = run.jobs.height
    print(f"scenario: {args.days:g} days, {len(scenario.tenants)} tenants, {len(scenario.backends)} backends, seed {args.seed}")
    print(f"jobs simulated: {jobs:,} ({run.executed_jobs:,} executed)")
    print(f"simulation (broker, scheduler, backends, drift, crosstalk, metering): {run.simulation_seconds:.1f} s")
    print(f"simulated jobs per second: {jobs / run.simulation_seconds:,.0f}")
    print(f"results (Aer distributions, shot draws, tables): {run.results_seconds:.1f} s")
    print(f"Aer distributions computed: {run.distributions_computed:,}; cache hit rate {run.cache_hit_rate:.2%}")
    print(f"end to end: {total:.1f} s, {jobs / total:,.0f} jobs per second")


if __name__ == "__main__":
    main()
