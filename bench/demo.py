"""The demo end to end: wall time and peak memory of all its processes, then the read commands on its store.

Run with `.venv/bin/python -m bench.demo [--out runs/bench-demo] [--skip-demo]`. ``qtenancy demo`` runs as a
child process with stdout to a file (as `make demo > log` does); the peak is the sampled RSS of it and every
process it starts (exporters, collector), summed. Anchor, measured in the same run: ``qtenancy --help``
(the interpreter and the command line starting), so the figures read as multiples of a fixed cost on this
machine. Then ``slo report``, ``incidents list``, ``postmortem --incident`` and ``jobs explain`` (a job that
incident hurt) on the demo's store.
Targets in issue 20: the demo in 90 s and 2 GB on 2 cores; each read command in 3 s.
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.usage import PeakRss, cpu_seconds
from common.readable import duration, size

QTENANCY = [sys.executable, "-m", "qtenancy"]
STEPS = tuple(f"{k}/" for k in range(1, 7))
"""How the demo's step lines begin."""


def _timed(args: list[str], log: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the command and all it started, and their summed peak RSS; each line it
    prints is copied to ``log`` and shown with the peak RSS since the line before."""
    cpu, started = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with PeakRss(process.pid) as peak:
            for line in process.stdout:
                out.write(line)
                if "demo" in args and line[:2] in STEPS:
                    print(f"  {line.rstrip()}; peak RSS in this step {size(peak.take())}", flush=True)
            code = process.wait()
    if code:
        raise SystemExit(f"{' '.join(args[2:])} failed ({code}); see {log}")
    return time.perf_counter() - started, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, peak.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-demo"))
    parser.add_argument("--skip-demo", action="store_true", help="time only the read commands on an existing store")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    anchor, anchor_cpu, _ = _timed([*QTENANCY, "--help"], options.out / "help.log")
    print(f"anchor: qtenancy --help  {duration(anchor)} ({anchor_cpu:.2f} s CPU)")
    if not options.skip_demo:
        print(f"qtenancy demo --out {options.out}:")
        seconds, cpu, peak = _timed([*QTENANCY, "demo", "--out", str(options.out)], options.out / "demo.log")
        print(f"  in all {duration(seconds)} ({seconds / anchor:,.0f}x the anchor; {seconds / 90:.2f} of the 90 s "
              f"target), {cpu:,.0f} s CPU; peak RSS of all its processes {size(peak)} ({peak / 2**31:.2f} of the "
              "2 GB target)")
    store = options.out / "collector"
    reads = [["slo", "report", "--data-dir", str(store)], ["incidents", "list", "--data-dir", str(store)]]
    incident = sorted(p.name for p in (options.out / "postmortems").iterdir())[0]
    reads.append(["postmortem", "--data-dir", str(store), "--incident", incident, "--out",
                  str(options.out / "postmortem-bench" / incident)])
    with (options.out / "postmortems" / incident / "affected_jobs.csv").open() as affected:
        job = next(csv.DictReader(affected))["provenance_id"]
    reads.append(["jobs", "explain", job, "--data-dir", str(store)])
    for args in reads:
        try:
            seconds, cpu, peak = _timed([*QTENANCY, *args], options.out / f"{args[0]}.log")
        except SystemExit as failed:
            print(f"qtenancy {' '.join(args)}: {failed}")
            continue
        print(f"qtenancy {' '.join(args)}: {duration(seconds)} ({seconds / anchor:.1f}x the anchor; "
              f"{seconds / 3:.2f} of the 3 s target), {cpu:.1f} s CPU, peak RSS {size(peak)}")


if __name__ == "__main__":
    main()
