"""Command-line start-up: CPU seconds of ``qtenancy --help`` and of each read command's ``--help``, beside the
bare interpreter (``python -c pass``) measured in the same run, and whether any heavy module was loaded.

Run with `make bench` or `.venv/bin/python -m bench.cli_start [--repeat 5]`. The figure is the median over the
repeats of user + system CPU of the child process. Target in issue 14: `qtenancy --help` under 0.5 s of CPU,
and no read command's help loads qiskit, the OpenTelemetry SDK or matplotlib.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

COMMANDS = (["--help"], ["slo", "report", "--help"], ["incidents", "list", "--help"], ["postmortem", "--help"],
            ["audit", "verify", "--help"])
HEAVY = ("qiskit", "opentelemetry.sdk", "matplotlib")


def _cpu(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _heavy(args: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "qtenancy", *args], capture_output=True, text=True,
                          check=True)
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return sorted(m for m in loaded if m.startswith(HEAVY))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    anchor = statistics.median(_cpu([sys.executable, "-c", "pass"]) for _ in range(options.repeat))
    print(f"anchor: python -c pass  {anchor:.3f} s CPU")
    for args in COMMANDS:
        seconds = statistics.median(_cpu([sys.executable, "-m", "qtenancy", *args]) for _ in range(options.repeat))
        heavy = _heavy(args)
        print(f"qtenancy {' '.join(args):24s} {seconds:.3f} s CPU ({seconds / anchor:.1f}x the anchor); "
              f"heavy modules: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
