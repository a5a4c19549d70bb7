"""``qtenancy audit verify``: check an audit trail's chain under its writer's key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qtenancy.console import console, errors, fail, os_reason

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@app.command("verify")
def verify(
    log: Annotated[Path, typer.Argument(help="an audit log (JSON lines, chained by keyed MACs)")],
    key_file: Annotated[Path | None, typer.Option(help="the log's HMAC key (default: LOG.key beside it)")] = None,
) -> None:
    """Check the chain under the writer's key; exit 1 naming the first edited, forged, removed or reordered record."""
    from common.audit import AuditKeyError, key_path_for, load_key
    from common.audit import verify as verify_log

    try:
        result = verify_log(log, load_key(key_file or key_path_for(log)))
    except AuditKeyError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(os_reason(exc))
    if not result.ok:
        errors.print(f"[red]tampered:[/red] {result.problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{log}: {result.records} records, chain intact", highlight=False)
