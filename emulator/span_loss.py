"""Fault F3 carried out: a span processor that drops or holds back spans on their way to the exporter.

It sits between the SDK and the batching exporter, where a real broker's telemetry is lost (a full
queue, a crashed sidecar) or delayed (a slow network), and it only acts on the jobs the run decided.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from contract.semconv import STAGES
from contract.semconv import Span as SpanName
from emulator.otlp_target import LossCounts


@dataclass(frozen=True)
class LossPlan:
    """For one job: the bitmask of stages whose spans are dropped, and how long the rest are held."""

    dropped_stages: int
    delay_ns: int


_STAGE_BIT = {SpanName.stage(s): 1 << i for i, s in enumerate(STAGES)}


class TelemetryLossProcessor(SpanProcessor):
    """Forwards ended spans to ``downstream`` unless the plan for their trace drops or delays them.

    Delayed spans are released once a span that ended at least ``delay`` later has passed through,
    so they reach the exporter out of order, as late telemetry does; shutdown and flush release all.
    """

    def __init__(self, downstream: SpanProcessor, plans: dict[int, LossPlan]):
        self._downstream = downstream
        self._plans = plans
        self._held: list[tuple[int, int, ReadableSpan]] = []
        self._sequence = 0
        self.counts = LossCounts()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._downstream.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        now = span.end_time or 0
        while self._held and self._held[0][0] <= now:
            self._forward(heapq.heappop(self._held)[2])
        plan = self._plans.get(span.context.trace_id)
        if plan is None:
            self._forward(span)
            return
        if plan.dropped_stages & _STAGE_BIT.get(span.name, 0):
            self.counts.dropped += 1
        elif plan.delay_ns > 0:
            self.counts.delayed += 1
            self._sequence += 1
            heapq.heappush(self._held, (now + plan.delay_ns, self._sequence, span))
        else:
            self._forward(span)

    def _forward(self, span: ReadableSpan) -> None:
        self.counts.forwarded += 1
        self._downstream.on_end(span)

    def _release_all(self) -> None:
        while self._held:
            self._forward(heapq.heappop(self._held)[2])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._downstream.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._release_all()
        self._downstream.shutdown()
