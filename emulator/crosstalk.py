"""Noisy neighbours: backends of one control group share electronics, so their drives leak.

Every job executing in a group is remembered with its activity; when a job completes, the
activity of overlapping jobs on the group's other backends, weighted by the overlap, becomes a
depolarizing weight on its output. Attribution to the aggressor tenant is kept for ground truth.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Execution:
    backend: int
    tenant: int
    start: float
    end: float
    activity: float


@dataclass(frozen=True, slots=True)
class Exposure:
    weight: float
    aggressor: int
    aggressor_share: float


NO_EXPOSURE = Exposure(0.0, -1, 0.0)
MAX_WEIGHT = 0.9


class ControlGroupActivity:
    def __init__(self, groups: list[int], coefficient: float):
        self._group_of = groups
        self._coefficient = coefficient
        self._recent: dict[int, deque[Execution]] = {g: deque() for g in set(groups)}
        self._longest = 0.0

    def started(self, execution: Execution) -> None:
        self._recent[self._group_of[execution.backend]].append(execution)
        self._longest = max(self._longest, execution.end - execution.start)

    def exposure(self, backend: int, start: float, end: float) -> Exposure:
        """Crosstalk weight on a job that ran on ``backend`` over [start, end).

        Jobs complete out of start order across backends, so only executions that began two
        longest-durations before this one are forgotten: those cannot overlap any job still running.
        """
        recent = self._recent[self._group_of[backend]]
        while recent and recent[0].start < start - 2 * self._longest:
            recent.popleft()
        if self._coefficient == 0.0 or end <= start:
            return NO_EXPOSURE
        by_tenant: dict[int, float] = {}
        for other in recent:
            if other.backend == backend or other.end <= start or other.start >= end:
                continue
            overlap = (min(end, other.end) - max(start, other.start)) / (end - start)
            by_tenant[other.tenant] = by_tenant.get(other.tenant, 0.0) + other.activity * overlap
        if not by_tenant:
            return NO_EXPOSURE
        total = sum(by_tenant.values())
        aggressor = max(by_tenant, key=lambda t: (by_tenant[t], -t))
        return Exposure(min(MAX_WEIGHT, self._coefficient * total), aggressor, by_tenant[aggressor] / total)
