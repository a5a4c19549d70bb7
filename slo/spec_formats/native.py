"""qtenancy's own spec format, ``version: qtenancy/v1``: catalogue SLIs by id, with their parameters."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field

from contract.alert_catalogue import BILLING, LOW_TRAFFIC_MIN_EVENTS
from slo.catalogue import SliId, SliParameters
from slo.spec_formats.registry import FileContext
from slo.specs import (
    NAME,
    Grouping,
    Seconds,
    SloSpec,
    Strict,
    Window,
    parse_window,
    validate_document,
)


class NativeSlo(Strict):
    name: str = Field(pattern=NAME)
    sli: SliId
    objective: float = Field(gt=0, le=100, description="percent of good events, as in Sloth")
    window: Annotated[Window, BeforeValidator(parse_window)] = Window(30 * 86400.0)
    group_by: Grouping = Field(Grouping.PLATFORM, validation_alias=AliasChoices("group_by", "groupBy"))
    filter: dict[Literal["tenant", "namespace", "backend", "priority"], list[str]] = {}
    threshold: Seconds = Field(300.0, gt=0, description="M2: the queue-wait bound")
    latency_factor: float = Field(2.0, gt=0, description="M8: result within this many times the expected runtime")
    meter_granularity: Seconds = Field(BILLING.meter_granularity_seconds, gt=0, description="M6: the meter's sampling period")
    billing_tolerance: Seconds = Field(0.001, ge=0, description="M6: billed may differ from metered by this much")
    completeness_grace: Seconds = Field(3600.0, ge=0, description="M5: how long a job may still be running")
    reproducibility_alpha: float = Field(0.01, gt=0, lt=1, description="M3: significance of the shot-noise test")
    min_events: int = Field(LOW_TRAFFIC_MIN_EVENTS, ge=0,
                            description="burn alerts fire only with this many events in their long window (0: always)")
    description: str = ""
    labels: dict[str, str] = {}


class NativeFile(Strict):
    version: Literal["qtenancy/v1"]
    slos: list[NativeSlo] = Field(min_length=1)


def _from_native(slo: NativeSlo, source: str) -> SloSpec:
    return SloSpec(
        name=slo.name, service="qtenancy", objective=round(slo.objective / 100, 12), window=slo.window, source=source, sli=slo.sli,
        group_by=slo.group_by, filter=dict(slo.filter),
        parameters=SliParameters(
            queue_wait_seconds=slo.threshold, latency_factor=slo.latency_factor,
            meter_granularity_seconds=slo.meter_granularity, billing_tolerance_seconds=slo.billing_tolerance,
            completeness_grace_seconds=slo.completeness_grace, reproducibility_alpha=slo.reproducibility_alpha,
        ),
        description=slo.description, labels=dict(slo.labels), min_events=slo.min_events,
    )


class Native:
    name = "qtenancy/v1"

    def recognises(self, document: dict) -> bool:
        return document.get("version") == "qtenancy/v1"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        return [_from_native(s, where) for s in validate_document(NativeFile, document, where).slos]
