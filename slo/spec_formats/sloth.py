"""Sloth's spec formats: ``version: prometheus/v1`` and the Kubernetes ``sloth.slok.dev/v1`` object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from slo.spec_formats.registry import FileContext
from slo.spec_formats.sloth_plugins import (
    DENOMINATOR_CORRECTED,
    SlothPluginChain,
    slo_chain,
)
from slo.spec_formats.sloth_sli_plugins import SliPluginError, sli_plugin_query
from slo.specs import (
    NAME,
    Grouping,
    KubernetesMetadata,
    Labels,
    Loose,
    RuleSource,
    SloSpec,
    SlothAlerting,
    SpecError,
    Window,
    catalogue_id,
    validate_document,
)


class SlothEvents(Loose):
    error_query: str = Field(min_length=1, validation_alias=AliasChoices("error_query", "errorQuery"))
    total_query: str = Field(min_length=1, validation_alias=AliasChoices("total_query", "totalQuery"))


class SlothRaw(Loose):
    error_ratio_query: str = Field(min_length=1, validation_alias=AliasChoices("error_ratio_query", "errorRatioQuery"))


class SlothPlugin(Loose):
    id: str = Field(min_length=1)
    options: dict[str, Any] = {}


class SlothSli(Loose):
    events: SlothEvents | None = None
    raw: SlothRaw | None = None
    plugin: SlothPlugin | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SlothSli:
        if sum(x is not None for x in (self.events, self.raw, self.plugin)) != 1:
            raise ValueError("an SLI needs exactly one of events, raw or plugin")
        return self


class SlothSlo(Loose):
    name: str = Field(pattern=NAME)
    objective: float = Field(gt=0, le=100)
    description: str = ""
    labels: Labels = {}
    sli: SlothSli
    alerting: SlothAlerting = SlothAlerting()
    plugins: SlothPluginChain = SlothPluginChain()

    @model_validator(mode="after")
    def _alert_name(self) -> SlothSlo:
        alerting = self.alerting
        if not alerting.name and not (alerting.page_alert.disable and alerting.ticket_alert.disable):
            raise ValueError("alerting.name is required unless both the page and the ticket alert are disabled")
        return self


class SlothService(Loose):
    service: str = Field(min_length=1)
    labels: Labels = {}
    slos: list[SlothSlo] = Field(min_length=1)
    slo_plugins: SlothPluginChain = Field(SlothPluginChain(), validation_alias=AliasChoices("slo_plugins", "sloPlugins"))

    @model_validator(mode="after")
    def _unique_names(self) -> SlothService:
        names = [s.name for s in self.slos]
        if len(set(names)) != len(names):
            raise ValueError(f"SLO names must be unique within a service: {sorted(n for n in set(names) if names.count(n) > 1)}")
        return self


class SlothFile(SlothService):
    version: Literal["prometheus/v1"]


class SlothKubernetes(Loose):
    api_version: Literal["sloth.slok.dev/v1"] = Field(validation_alias="apiVersion")
    kind: Literal["PrometheusServiceLevel"]
    metadata: KubernetesMetadata
    spec: SlothService


def _from_sloth(service: SlothService, source: str, window: Window, version: str, mode: str, at: str = "",
                kubernetes: KubernetesMetadata | None = None) -> list[SloSpec]:
    """``at`` is where the service sits in the document (``spec.`` in a Kubernetes object), for error paths."""
    specs = []
    for i, slo in enumerate(service.slos):
        where = f"{at}slos[{i}]"
        labels = {**service.labels, **slo.labels}
        queries = slo.sli.events or slo.sli.raw
        if slo.sli.plugin is not None:
            try:
                queries = SlothRaw(error_ratio_query=sli_plugin_query(slo.sli.plugin.id, labels, slo.sli.plugin.options))
            except SliPluginError as exc:
                raise SpecError(f"{source}: {where}.sli.plugin.id: {exc}") from None
        sli, why = catalogue_id(labels, f"{source}: {where}")
        try:
            plugins = slo_chain(service.slo_plugins, slo.plugins, f"{at}{'slo_plugins' if kubernetes is None else 'sloPlugins'}",
                                f"{where}.plugins")
        except SpecError as exc:
            raise SpecError(f"{source}: {exc}") from None
        if slo.sli.events is None and any(p.id == DENOMINATOR_CORRECTED for p in plugins.steps):
            raise SpecError(f"{source}: {where}.sli: plugin {DENOMINATOR_CORRECTED} corrects an events SLI "
                            "(error_query and total_query); this SLO's SLI is raw")
        rules = RuleSource(
            service=service.service, name=slo.name, objective_percent=slo.objective, labels=labels,
            spec_version=version, mode=mode, alerting=slo.alerting,
            error_query=getattr(queries, "error_query", ""), total_query=getattr(queries, "total_query", ""),
            error_ratio_query=getattr(queries, "error_ratio_query", ""), plugins=plugins, kubernetes=kubernetes,
        )
        specs.append(SloSpec(
            name=slo.name, service=service.service, objective=round(slo.objective / 100, 12), window=window, source=source,
            sli=sli, group_by=Grouping(labels.get("qtenancy_group_by", "platform")), description=slo.description,
            labels=labels, not_computable=why, rules=rules,
        ))
    return specs


def _without(document: dict, keys: tuple[str, ...], service: str = "") -> dict:
    """The document without the alerting keys the other spelling uses: Sloth's ``prometheus/v1`` reads only
    ``page_alert``/``ticket_alert`` and its Kubernetes CRD only ``pageAlert``/``ticketAlert``, and each ignores
    the other's, so an example written with the wrong spelling gets no alert labels, as in Sloth."""
    body = document.get(service, {}) if service else document
    if not isinstance(body, dict) or not isinstance(body.get("slos"), list):
        return document
    slos = [{**slo, "alerting": {k: v for k, v in slo["alerting"].items() if k not in keys}}
            if isinstance(slo, dict) and isinstance(slo.get("alerting"), dict) else slo for slo in body["slos"]]
    return {**document, service: {**body, "slos": slos}} if service else {**document, "slos": slos}


class SlothPrometheus:
    name = "prometheus/v1"

    def recognises(self, document: dict) -> bool:
        return document.get("version") == "prometheus/v1"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        return _from_sloth(validate_document(SlothFile, _without(document, ("pageAlert", "ticketAlert")), where),
                           where, context.default_window, "prometheus/v1", "cli-gen-prom")


class SlothKubernetesFormat:
    name = "sloth.slok.dev/v1"

    def recognises(self, document: dict) -> bool:
        return document.get("apiVersion") == "sloth.slok.dev/v1"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        kubernetes = validate_document(SlothKubernetes, _without(document, ("page_alert", "ticket_alert"), "spec"), where)
        return _from_sloth(kubernetes.spec, where, context.default_window, "sloth.slok.dev/v1", "cli-gen-k8s", "spec.",
                           kubernetes.metadata)
