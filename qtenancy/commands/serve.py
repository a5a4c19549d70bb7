"""``qtenancy serve``: the web console over a data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qtenancy.console import console, fail, os_reason
from qtenancy.options import ConfigOption, DataDirOption, SpecOption
from qtenancy.reading import specs as load_specs


def serve(
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    spec: SpecOption = [],  # noqa: B006
    quotas: Annotated[Path | None, typer.Option(
        help="tenant quotas for fairness: a scenario file, or a YAML mapping tenant: share")] = None,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0: any free port)", min=0, max=65535)] = 8080,
) -> None:
    """Serve the console: SLOs, incidents and postmortems, backends, fairness and jobs for the platform; a
    tenant signed in with its collector token sees its own jobs, SLOs, incidents and statement."""
    from aiohttp import web

    from collector.config import ConfigError, Tokens, load_config
    from collector.tenancy import TokenBook
    from contract.data_dir import DEFAULT_DATA_DIR, STORE
    from qtenancy.reading import quotas_from
    from qtenancy.web.app import application
    from qtenancy.web.data import ConsoleData

    root = data_dir or DEFAULT_DATA_DIR
    try:
        tokens = load_config(config).tokens if config else None
        shares = quotas_from(quotas)
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    if not (root / STORE / "jobs").is_dir():
        fail(f"{root}: no correlated jobs table under {STORE}/ (run `qtenancy collector correlate` first)", 1)
    book = TokenBook(tokens or Tokens())
    if book.open and host not in ("127.0.0.1", "localhost", "::1"):
        fail(f"no tokens: every caller would be the platform; serve on loopback, or give --config with tokens "
             f"(asked to listen on {host})")
    app = application(ConsoleData(root, load_specs(spec), shares), book)
    where = "open to every caller on loopback (no tokens)" if book.open else "sign in with a collector token"
    try:
        web.run_app(app, host=host, port=port, print=lambda _: console.print(
            f"console on http://{host}:{port}/ over {root}: {where}", highlight=False))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {os_reason(exc)}", 1)
