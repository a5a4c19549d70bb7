"""Sloth SLI plugins qtenancy runs: ports of the ones Sloth's own repository ships with its examples.

Sloth loads an SLI plugin as Go source from a directory and calls it for the SLO's raw error-ratio query;
qtenancy cannot run Go, so the plugins Sloth's examples use are ported here, returning the same query text
(Sloth's ``examples/plugins/getting-started/availability/plugin.go``). Any other plugin id is refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

FILTER = re.compile(r'([^=]+="[^=,"]+",)+')


class SliPluginError(ValueError):
    pass


def _getting_started_availability(labels: dict[str, str], options: dict[str, str]) -> str:
    """HTTP requests answered 5xx or 429 over all requests of the ``job``, optionally narrowed by ``filter``."""
    job = options.get("job")
    if job is None:
        raise SliPluginError("job options is required")
    for key in ("owner", "tier"):
        if not labels.get(key):
            raise SliPluginError(f'invalid labels: "{key}" label is required')
    selector = options.get("filter", "")
    if selector:
        selector = selector.strip("{}").strip(",") + ","
        if not FILTER.search(selector):
            raise SliPluginError(f"invalid prometheus filter: {selector}")
    metric = "http_request_duration_seconds_count"
    return (f'\nsum(rate({metric}{{ {selector}job="{job}",code=~"(5..|429)" }}[{{{{.window}}}}]))\n/\n'
            f'sum(rate({metric}{{ {selector}job="{job}" }}[{{{{.window}}}}]))')


SLI_PLUGINS: dict[str, Callable[[dict[str, str], dict[str, str]], str]] = {
    "getting_started_availability": _getting_started_availability,
}


def sli_plugin_query(plugin_id: str, labels: dict[str, str], options: dict) -> str:
    """The raw error-ratio query the plugin makes; SliPluginError names what is wrong."""
    plugin = SLI_PLUGINS.get(plugin_id)
    if plugin is None:
        raise SliPluginError(f"{plugin_id!r} is a Sloth SLI plugin, Go code loaded by Sloth, which qtenancy does not "
                             f"run (it runs {', '.join(sorted(SLI_PLUGINS))}); write its query as sli.events or sli.raw")
    return plugin(labels, {str(k): str(v) for k, v in options.items()})
