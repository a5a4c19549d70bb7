"""What a benchmark costs: CPU seconds, and the peak memory of a group of processes (the resident set of each
process and all its descendants, summed, sampled)."""

from __future__ import annotations

import resource
import threading

import psutil


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User plus system CPU so far of this process (or, with ``RUSAGE_CHILDREN``, of its waited-for children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class PeakRss:
    """Samples, every ``interval`` seconds, the summed RSS of ``pids`` and their descendants; ``peak`` in bytes."""

    def __init__(self, *pids: int, interval: float = 0.1):
        self._roots = [psutil.Process(pid) for pid in pids]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak = 0
        self.since = 0

    def _total(self) -> int:
        total = 0
        for root in self._roots:
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in family:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = self._total()
            self.peak = max(self.peak, total)
            self.since = max(self.since, total)
            self._stop.wait(self._interval)

    def take(self) -> int:
        """The peak since the last ``take`` (for the stages of a run), and start again."""
        peak, self.since = self.since, 0
        return peak

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
