"""``qtenancy alerts generate``: Prometheus rules and the Alertmanager configuration from SLO specs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from contract.alert_catalogue import RUNBOOK_BASE
from qtenancy.console import console, fail, name_value_pairs, os_reason, warn
from qtenancy.options import PeriodOption, WindowsOption
from qtenancy.reading import burn_windows

app = typer.Typer(help="Prometheus rules (Sloth-compatible SLO rules, operational alerts) and Alertmanager.",
                  no_args_is_help=True)

@app.command("generate")
def generate(
    specs: Annotated[list[Path], typer.Argument(help="SLO spec files or directories (qtenancy/v1, Sloth, OpenSLO)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the rule files and alertmanager.yml")],
    period: PeriodOption = "30d",
    windows: WindowsOption = None,
    label: Annotated[list[str], typer.Option(help="NAME=VALUE added to every SLO rule (repeatable)")] = [],  # noqa: B006
    runbook_base: Annotated[str, typer.Option(help="where docs/runbooks is published")] = RUNBOOK_BASE,
    page_url: Annotated[str, typer.Option(help="Alertmanager webhook for pages")] = "http://127.0.0.1:9095/page",
    ticket_url: Annotated[str, typer.Option(help="Alertmanager webhook for tickets")] = "http://127.0.0.1:9095/ticket",
) -> None:
    """Write slo-rules.yaml, operational-rules.yaml and alertmanager.yml from the specs."""
    from alerts.alertmanager import Receivers
    from alerts.generate import NoRules, write_alerting
    from slo.spec_files import load_all
    from slo.specs import SpecError, parse_window

    try:
        loaded = load_all(specs, parse_window(period))
        chosen = burn_windows(period, windows)
        extra = dict(name_value_pairs(label, "--label"))
        receivers = Receivers(page_url=page_url, ticket_url=ticket_url)
    except (SpecError, ValueError, OSError) as exc:
        fail(str(exc))
    try:
        written = write_alerting(loaded, out, chosen, extra, runbook_base, receivers)
    except NoRules as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the rules under {out} (it must be a directory): {os_reason(exc)}")
    for reason in written.skipped:
        warn("no rules:", reason)
    for path in written.paths:
        console.print(f"  {path}", highlight=False)
