"""A run's metrics as one OpenMetrics text file with timestamps, for ``promtool tsdb create-blocks-from openmetrics``.

The replay is scraped every ``interval`` of virtual time. OpenMetrics wants each family's samples together
and, inside a family, each metric's points together in time order (a histogram's buckets, sum and count at
one instant form one point): every family is streamed to its own spill file with each line tagged by its
metric, and at the end each family is sorted by metric (stably, so time order holds) and the families joined.
A sample's text up to its value is made once per series: a week of scrapes repeats it ten thousand times.
Created-timestamp series are left out: they would carry the wall clock, and backfill does not need them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from prometheus_client.utils import floatToGoString

from emulator.metrics import MetricsReplay

DEFAULT_INTERVAL = 60.0


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def write_openmetrics(
    replay: MetricsReplay,
    path: Path,
    interval: float = DEFAULT_INTERVAL,
    progress: Callable[[float], None] | None = None,
) -> int:
    """Write every scrape of the run to ``path`` (atomically); returns the number of samples."""
    start_ns = int(replay.start.timestamp() * 1e9)
    scrapes = int(replay.horizon // interval) + 1
    samples = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".openmetrics-") as spill:
        spill_dir = Path(spill)
        headers: dict[str, str] = {}
        files = {}
        series: dict[tuple, int] = {}
        prefixes: dict[tuple, str] = {}
        try:
            for n in range(scrapes):
                offset = n * interval
                replay.advance(start_ns + int(offset * 1e9))
                stamp = f" {replay.start.timestamp() + offset:.3f}".rstrip("0").rstrip(".")
                for family in replay.registry.collect():
                    out = files.get(family.name)
                    if out is None:
                        out = files[family.name] = open(spill_dir / f"{len(files):04d}", "w")
                        header = f"# HELP {family.name} {family.documentation}\n# TYPE {family.name} {family.type}\n"
                        if family.unit:
                            header += f"# UNIT {family.name} {family.unit}\n"
                        headers[family.name] = header
                    lines = []
                    for sample in family.samples:
                        if sample.name.endswith("_created"):
                            continue
                        which = (sample.name, tuple(sample.labels.items()))
                        prefix = prefixes.get(which)
                        if prefix is None:
                            point = {k: v for k, v in sample.labels.items() if k not in ("le", "quantile")}
                            key = series.setdefault((family.name, _labels(point)), len(series))
                            prefix = prefixes[which] = f"{key:09d}{sample.name}{_labels(sample.labels)} "
                        line = f"{prefix}{floatToGoString(sample.value)}{stamp}"
                        if sample.exemplar is not None:
                            line += f" # {_labels(sample.exemplar.labels)} {floatToGoString(sample.exemplar.value)}"
                        lines.append(line)
                    if lines:
                        out.write("\n".join(lines) + "\n")
                        samples += len(lines)
                if progress is not None and n % 500 == 0:
                    progress(n / scrapes)
        finally:
            for out in files.values():
                out.close()
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as target:
            for n, name in enumerate(files):
                target.write(headers[name])
                with open(spill_dir / f"{n:04d}") as part:
                    target.writelines(line[9:] for line in sorted(part, key=lambda line: line[:9]))
            target.write("# EOF\n")
            target.flush()
            os.fsync(target.fileno())
        os.replace(tmp, path)
    if progress is not None:
        progress(1.0)
    return samples
