"""OpenSLO ``openslo/v1alpha`` SLOs, read as Sloth reads them (``openslo/v1`` is in ``openslo_v1.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from slo.spec_formats.registry import FileContext
from slo.specs import (
    KubernetesMetadata,
    Loose,
    RuleSource,
    SloSpec,
    SlothAlert,
    SlothAlerting,
    SpecError,
    Window,
    catalogue_id,
    validate_document,
)


class OpenSloQuery(Loose):
    source: str = ""
    query_type: str = Field("", validation_alias=AliasChoices("queryType", "query_type"))
    query: str = Field(min_length=1)


class OpenSloRatio(Loose):
    good: OpenSloQuery | None = None
    bad: OpenSloQuery | None = None
    total: OpenSloQuery

    @model_validator(mode="after")
    def _good_or_bad(self) -> OpenSloRatio:
        if (self.good is None) == (self.bad is None):
            raise ValueError("a ratio needs exactly one of good or bad, and total")
        return self


class OpenSloAlphaObjective(Loose):
    ratio_metrics: OpenSloRatio = Field(validation_alias=AliasChoices("ratioMetrics", "ratio_metrics"))
    target: float = Field(gt=0, lt=1)


class OpenSloAlphaTimeWindow(Loose):
    count: int = Field(gt=0)
    unit: Literal["Day", "Week", "Month"]
    is_rolling: bool = Field(True, validation_alias=AliasChoices("isRolling", "is_rolling"))


class OpenSloAlphaSpec(Loose):
    service: str = Field(min_length=1)
    description: str = ""
    budgeting_method: Literal["Occurrences"] = Field(validation_alias="budgetingMethod")
    objectives: list[OpenSloAlphaObjective] = Field(min_length=1)
    time_windows: list[OpenSloAlphaTimeWindow] = Field(min_length=1, max_length=1, validation_alias="timeWindows")


class OpenSloAlpha(Loose):
    api_version: Literal["openslo/v1alpha"] = Field(validation_alias="apiVersion")
    kind: Literal["SLO"]
    metadata: KubernetesMetadata
    spec: OpenSloAlphaSpec


class OpenSloAlphaService(Loose):
    api_version: Literal["openslo/v1alpha"] = Field(validation_alias="apiVersion")
    kind: Literal["Service"]
    metadata: KubernetesMetadata


def good_ratio_query(good: str, total: str) -> str:
    """The error ratio of a good/total ratio, in the words of Sloth's OpenSLO loader (Sloth counts bad events)."""
    return f"\n  1 - (\n    (\n      {good}\n    )\n    /\n    (\n      {total}\n    )\n  )\n"


def _from_openslo_alpha(doc: OpenSloAlpha, source: str) -> list[SloSpec]:
    window = doc.spec.time_windows[0]
    days = {"Day": 1, "Week": 7, "Month": 30}[window.unit] * window.count
    if days != 30:
        raise SpecError(f"{source}: spec.timeWindows[0]: {window.count} {window.unit}: as in Sloth, OpenSLO v1alpha SLOs "
                        "must use a 30-day window")
    sli, why = catalogue_id(doc.metadata.labels, source)
    specs = []
    for i, o in enumerate(doc.spec.objectives):
        name = f"{doc.metadata.name}-{i}"
        ratio = o.ratio_metrics
        if ratio.good is not None:
            raw = good_ratio_query(ratio.good.query, ratio.total.query)
        else:
            raw = f"(\n  {ratio.bad.query}\n)\n/\n(\n  {ratio.total.query}\n)\n"
        off = SlothAlert(disable=True)
        rules = RuleSource(
            service=doc.spec.service, name=name, objective_percent=o.target * 100, labels={},
            spec_version="openslo/v1alpha", mode="cli-gen-openslo",
            alerting=SlothAlerting(page_alert=off, ticket_alert=off), error_ratio_query=raw,
        )
        specs.append(SloSpec(
            name=name, service=doc.spec.service, objective=o.target, window=Window(days * 86400.0), source=source,
            sli=sli, description=doc.spec.description, labels=dict(doc.metadata.labels), not_computable=why, rules=rules,
        ))
    return specs


class OpenSloAlphaFormat:
    name = "openslo/v1alpha"

    def recognises(self, document: dict) -> bool:
        return document.get("apiVersion") == "openslo/v1alpha"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        """A ``Service`` (v1alpha's other kind) names what SLOs belong to, and gives no SLO of its own."""
        if document.get("kind") == "Service":
            validate_document(OpenSloAlphaService, document, where)
            return []
        return _from_openslo_alpha(validate_document(OpenSloAlpha, document, where), where)
