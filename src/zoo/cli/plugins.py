"""``zoo plugins [--json]``: every plugin zoo found, with what it adds or why it failed.

Shows the built-in tokens (plugin ``zoo``) and each distribution with an entry
point in group ``zoo``: version, status (ok, failed, disabled), the reason of a
failure, its tokens, presets and options. A clash between two plugins is shown
here rather than raised, since this is where one goes to find it. No torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .layout import columns


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plugins",
        help="list the plugins: version, status, tokens, presets",
        description="List the plugins zoo found (entry points in group 'zoo') and what each adds.",
        epilog="Environment: ZOO_DISABLE_PLUGIN_AUTOLOAD=1, ZOO_DISABLE_PLUGINS=name1,name2",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def plugin_rows() -> list[dict[str, Any]]:
    """One dict per plugin (``PluginInfo.to_dict()``): zoo's own first, then by name.

    ``presets`` are the names the preset loader finds in each plugin's files; when
    the presets cannot be read (two sources define one name), the YAML file names
    stand in and a warning says why.

    >>> plugin_rows()[0]["distribution"], plugin_rows()[0]["status"]
    ('zoo', 'ok')
    """
    from ..registry.registry import BUILTIN, get_registry

    registry = get_registry()
    infos = sorted(registry.plugins.values(), key=lambda i: (i.name != BUILTIN, i.name.lower()))
    rows = [info.to_dict() for info in infos]
    presets = _presets_by_plugin()
    for row in rows:
        if presets is not None and row["status"] == "ok":
            row["presets"] = sorted(presets.get(row["distribution"], []))
    return rows


def _presets_by_plugin() -> dict[str, list[str]] | None:
    from ..errors import ZooError
    from ..presets import list_presets

    try:
        found = list_presets()
    except ZooError as exc:
        print(f"zoo: warning: the presets cannot be listed: {exc}", file=sys.stderr)
        return None
    names: dict[str, list[str]] = {}
    for preset in found:
        names.setdefault(preset.plugin, []).append(preset.name)
    return names


def run(args: argparse.Namespace) -> int:
    rows = plugin_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("\n".join(plugin_lines(rows)))
    for row in rows:
        if row["reason"] and row["status"] != "ok":
            print(f"{row['distribution']}: {row['reason']}")
    return 0


def plugin_lines(rows: list[dict[str, Any]], width: int | None = None) -> list[str]:
    """The table of ``zoo plugins``: a line per plugin, then what it adds, wrapped
    between names (a name is never broken)."""
    table = [[row["distribution"], row["version"] or "-", row["status"]] for row in rows]
    notes = [[f"{kind}: {' '.join(row[kind])}" for kind in ("tokens", "presets", "options") if row[kind]]
             for row in rows]
    return columns(["plugin", "version", "status"], table, notes=notes, width=width)
