"""Writing a deployment's alerting: Sloth-compatible SLO rules, the operational rules and Alertmanager's config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alerts.alertmanager import Receivers, alertmanager_config
from alerts.native_sli import NotGeneratable, rule_source
from alerts.operational import operational_group
from alerts.rule_files import HEADER, dump, write
from alerts.sloth_rules import Generation, groups
from common.version import VERSION
from contract.alert_catalogue import BurnWindows
from slo.specs import SloSpec


@dataclass(frozen=True)
class Written:
    paths: list[Path]
    skipped: list[str]
    """Why a spec gave no rules (its SLI is not generatable as PromQL)."""


def write_alerting(specs: list[SloSpec], out: Path, windows: BurnWindows, extra: dict[str, str], runbook_base: str,
                   receivers: Receivers) -> Written:
    """``rules/slo-rules.yaml``, ``rules/operational-rules.yaml`` and ``alertmanager.yml`` under ``out``."""
    sources, skipped = [], []
    for spec in specs:
        try:
            sources.append(rule_source(spec, runbook_base))
        except NotGeneratable as exc:
            skipped.append(str(exc))
    generation = Generation(windows, extra, VERSION)
    return Written([
        write(out / "rules" / "slo-rules.yaml", dump({"groups": groups(sources, generation)}, HEADER)),
        write(out / "rules" / "operational-rules.yaml", dump({"groups": [operational_group(runbook_base)]}, HEADER)),
        write(out / "alertmanager.yml", dump(alertmanager_config(receivers))),
    ], skipped)
