"""``zoo list [PATTERN] [--json]``: the presets, read from their YAML files (no torch)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from ..format import format_count, plain
from .layout import columns, terminal_width


def add_parser(sub) -> None:
    p = sub.add_parser(
        "list",
        help="list the presets (named models)",
        description="List the presets: zoo's own, the plugins', and those in ZOO_PRESET_PATH.",
        epilog="Examples: zoo list 'resnet18*'; zoo list --tag cifar; zoo list 'wrn*' --tag cifar",
    )
    p.add_argument("pattern", nargs="?", default="*", metavar="PATTERN",
                   help="shell-style wildcard on the names, e.g. 'r*m' (default: all)")
    p.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only the presets with this tag (cifar, imagenet, resnet, ...); repeat it for "
                   "presets with every tag given")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import did_you_mean
    from ..presets import list_presets, list_tags

    presets = list_presets(args.pattern, args.tag)
    if args.json:
        print(json.dumps([p.to_dict() for p in presets], indent=2))
        return 0
    if not presets:
        tags = "".join(f" with the tag {t!r}" for t in args.tag)
        known = list_tags()
        unknown = [t for t in args.tag if t not in known]
        hint = (f"; no preset has the tag {unknown[0]!r}{did_you_mean(unknown[0], known)} (the tags: "
                f"{', '.join(known)})" if unknown
                else " ('zoo list' shows them all)")
        print(f"no preset matches {args.pattern!r}{tags}{hint}", file=sys.stderr)
        return 0
    print(f"zoo presets ({len(presets)})")
    print("\n".join(preset_lines(presets)))
    missing = [p.name for p in presets if p.params is None or p.macs is None]
    if missing:
        hint = (f"? = not written in the preset file; 'zoo inspect {missing[0]} --write-counts' "
                "computes them and writes them there")
        print("\n" + textwrap.fill(hint, width=terminal_width(), break_long_words=False))
    return 0


def preset_lines(presets: list, width: int | None = None) -> list[str]:
    """The table of ``zoo list``: one line of figures per preset, the description after
    it when the line fits ``width``, else indented below it."""
    show_source = any(p.source != "zoo" for p in presets)
    headers = ["name", "input", "parameters", "MACs"] + (["from"] if show_source else [])
    rows = []
    for p in presets:
        row = [p.name, "×".join(str(v) for v in p.input),
               f"{p.params:,}" if p.params is not None else "?", format_count(p.macs)]
        rows.append(row + ([p.source] if show_source else []))
    return columns(headers, rows, aligns="<<>>" + "<" * show_source,
                   notes=[[plain(p.description)] for p in presets], note_header="description", width=width)
