"""Sloth's SLO plugin chains (``slo_plugins``/``sloPlugins`` of a service, ``plugins`` of an SLO), read and checked.

Sloth runs a chain of plugins over every SLO: its four defaults (validate, SLI rules, metadata rules, alert
rules) at priority 0, the service's and the SLO's own plugins before them (negative priority) or after. qtenancy
runs the plugins Sloth ships that its examples use; any other id (a plugin of one's own, or one of Sloth's
we do not run) is refused here, naming it, so that no part of a chain is ever dropped without a word. The
rules each plugin makes are in ``alerts/sloth_plugins.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, ValidationError

from slo.specs import Labels, Loose, PluginChain, PluginStep, Seconds, SpecError


class NoConfig(Loose):
    """Sloth's validate, debug and noop plugins: they log or check, and change no rule."""


class SliRulesConfig(Loose):
    disable_optimized: bool = Field(False, validation_alias=AliasChoices("disableOptimized", "disable_optimized"))


class InfoLabelsConfig(Loose):
    labels: Labels = Field(min_length=1, description="added to the info metric's labels")
    metric_name: str = Field("sloth_slo_info", min_length=1, validation_alias=AliasChoices("metricName", "metric_name"))


class Intervals(Loose):
    default: Seconds = Field(gt=0)
    sli_error: Seconds | None = Field(None, gt=0, validation_alias=AliasChoices("sliError", "sli_error"))
    metadata: Seconds | None = Field(None, gt=0)
    alert: Seconds | None = Field(None, gt=0)


class RuleIntervalsConfig(Loose):
    interval: Intervals


CORE_VALIDATE = "sloth.dev/core/validate/v1"
CORE_SLI_RULES = "sloth.dev/core/sli_rules/v1"
CORE_METADATA_RULES = "sloth.dev/core/metadata_rules/v1"
CORE_ALERT_RULES = "sloth.dev/core/alert_rules/v1"
CORE_DEBUG = "sloth.dev/core/debug/v1"
CORE_NOOP = "sloth.dev/core/noop/v1"
DENOMINATOR_CORRECTED = "sloth.dev/contrib/denominator_corrected_rules/v1"
INFO_LABELS = "sloth.dev/contrib/info_labels/v1"
RULE_INTERVALS = "sloth.dev/contrib/rule_intervals/v1"
VALIDATE_VICTORIA_METRICS = "sloth.dev/contrib/validate_victoria_metrics/v1"

CONFIGS: dict[str, type[BaseModel]] = {
    CORE_VALIDATE: NoConfig, CORE_SLI_RULES: SliRulesConfig, CORE_METADATA_RULES: NoConfig,
    CORE_ALERT_RULES: NoConfig, CORE_DEBUG: NoConfig, CORE_NOOP: NoConfig,
    DENOMINATOR_CORRECTED: SliRulesConfig, INFO_LABELS: InfoLabelsConfig, RULE_INTERVALS: RuleIntervalsConfig,
    VALIDATE_VICTORIA_METRICS: NoConfig,
}
"""The plugins qtenancy runs, each with the configuration it reads (as Sloth's own plugin does)."""


class SlothPluginEntry(Loose):
    id: str = Field(min_length=1)
    priority: int = 0
    config: dict[str, Any] | None = None


class SlothPluginChain(Loose):
    override_previous: bool = Field(False, validation_alias=AliasChoices("overridePrevious", "override_previous"))
    chain: list[SlothPluginEntry] = []


def read_chain(chain: SlothPluginChain, where: str) -> tuple[PluginStep, ...]:
    """The chain's plugins with their configurations checked; SpecError names the plugin and the field."""
    steps = []
    for i, entry in enumerate(chain.chain):
        at = f"{where}.chain[{i}]"
        model = CONFIGS.get(entry.id)
        if model is None:
            raise SpecError(f"{at}.id: Sloth SLO plugin {entry.id!r} is not one qtenancy runs (it runs "
                            f"{', '.join(sorted(CONFIGS))}); its rules would be missing, so the spec is refused")
        try:
            steps.append(PluginStep(entry.id, entry.priority, model.model_validate(entry.config or {})))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in exc.errors())
            raise SpecError(f"{at}.config: plugin {entry.id}: {problems}") from None
    return tuple(steps)


def slo_chain(service: SlothPluginChain, slo: SlothPluginChain, service_where: str, slo_where: str) -> PluginChain:
    """Sloth's rule: the service's plugins then the SLO's; ``overridePrevious`` on the SLO drops the service's,
    and on either drops Sloth's defaults."""
    shared, own = read_chain(service, service_where), read_chain(slo, slo_where)
    if slo.override_previous:
        return PluginChain(own, True)
    return PluginChain(shared + own, service.override_previous)
