"""Where presets come from: zoo's folder, the plugins', ``ZOO_PRESET_PATH``; one bad
source is skipped with a warning; the catalog by name, cached until a file changes;
``get_preset``, ``find_preset``, ``list_models``. No torch."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    PluginClashError,
    PresetError,
    UnknownPresetError,
    did_you_mean,
    warn,
)
from ..registry.registry import PRESET_SUFFIXES, preset_files
from .schema import ENV_PATH, Preset, load_preset_file

# -- where presets come from -------------------------------------------------------------


def _bundled_dir() -> Path:
    package = Path(__file__).resolve().parent.parent  # zoo/
    wheel = package / "preset_files"  # the wheel force-includes presets/ as zoo/preset_files/
    if wheel.is_dir():
        return wheel
    return package.parent.parent / "presets"  # an editable install: the repository's presets/


def preset_dirs() -> list[tuple[str, Path]]:
    """Every preset source as ``(plugin, path)``: zoo's folder, each plugin's files or
    folders (``zoo_presets()``), then the folders of ``ZOO_PRESET_PATH`` (plugin "")."""
    from ..registry.registry import get_registry

    sources: list[tuple[str, Path]] = [("zoo", _bundled_dir())]
    sources += [(plugin, Path(p)) for plugin, p in get_registry().preset_paths if plugin != "zoo"]
    for part in os.environ.get(ENV_PATH, "").split(os.pathsep):
        if part.strip():
            sources.append(("", Path(part.strip()).expanduser()))
    return sources


def _files(plugin: str, path: Path) -> list[Path]:
    if path.is_dir() or path.is_file():
        return preset_files(path)
    who = f"plugin {plugin!r} names" if plugin else f"{ENV_PATH} names"
    raise PresetError(f"{who} {str(path)!r}, which is neither a preset folder nor a YAML file")


def _label(preset: Preset) -> str:
    if preset.plugin == "zoo":
        return f"zoo ({preset.path})"
    if preset.plugin:
        return f"plugin {preset.plugin!r} ({preset.path})"
    return f"{ENV_PATH} ({preset.path})"


def _fix(plugin: str) -> str:
    """How to get rid of a source: disable its plugin, or mend ZOO_PRESET_PATH."""
    if plugin and plugin != "zoo":
        return f"disable the plugin with ZOO_DISABLE_PLUGINS={plugin}"
    if not plugin:
        return f"fix or remove the file, or remove its folder from {ENV_PATH}"
    return ""


@dataclass
class _Catalog:
    """Every usable preset by name, and what was skipped: names two sources define
    (asking for one raises its clash) and files that could not be read (asking for
    the file's name raises its error)."""

    presets: dict[str, Preset]
    ambiguous: dict[str, PluginClashError]
    broken: dict[str, PresetError]


_cache: tuple[Any, tuple, _Catalog] | None = None


def _sources() -> list[tuple[str, Path]]:
    """:func:`preset_dirs` without the same folder twice (the first keeps it) and
    without the folders of ZOO_PRESET_PATH that do not exist (a warning each)."""
    unique: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for plugin, path in preset_dirs():
        try:
            key = path.resolve()
        except (OSError, RuntimeError):  # a link loop
            key = path
        if key in seen:
            continue
        seen.add(key)
        unique.append((plugin, path))
    return unique


def _catalog() -> _Catalog:
    """Every preset by name, read again only when a file or a source changes.

    One bad source never takes the others down: a folder that does not exist, a
    file that does not read, or a name two sources define is skipped with one
    :class:`~zoo.ZooWarning` naming it and the fix. zoo's own presets are
    authoritative: a plugin's or a user's preset of the same name is skipped."""
    global _cache
    from ..registry.registry import get_registry

    registry = get_registry()
    found: list[tuple[str, Path]] = []
    problems: list[str] = []
    for plugin, path in _sources():
        try:
            found += [(plugin, f) for f in _files(plugin, path)]
        except PresetError as exc:
            if plugin == "zoo":
                raise
            fix = _fix(plugin) if plugin else f"remove it from {ENV_PATH}, or create the folder"
            problems.append(f"{exc}; it is skipped ({fix})")
    # files, their times and sizes, and the tokens they were checked against
    stamps = (tuple(registry.tokens), tuple(_stamp(plugin, f) for plugin, f in found))
    if _cache is not None and _cache[0] is registry and _cache[1] == stamps:
        return _cache[2]
    catalog = _Catalog({}, {}, {})
    defined: dict[str, list[Preset]] = {}
    for plugin, file in found:
        try:
            preset = _load_named(file, plugin)
        except PresetError as exc:
            if plugin == "zoo":
                raise
            catalog.broken.setdefault(file.stem, exc)
            who = f"a preset of plugin {plugin!r}" if plugin else f"a preset file of {ENV_PATH}"
            problems.append(f"{who} is skipped: {exc}\n  ({_fix(plugin)})")
            continue
        defined.setdefault(preset.name, []).append(preset)
    for name, presets in defined.items():
        ours = [p for p in presets if p.plugin == "zoo"]
        if ours and len(presets) > 1:  # zoo's own preset wins; the others are skipped
            for other in presets:
                if other.plugin != "zoo":
                    problems.append(
                        f"{_label(other)} defines the preset {name!r}, which zoo itself has; zoo's is "
                        "used and this one is skipped ("
                        + (_fix(other.plugin) + ", or rename it)" if other.plugin else "rename it, or remove it)")
                    )
            presets = ours
        if len(presets) == 1:
            catalog.presets[name] = presets[0]
            continue
        fixes = "; ".join(dict.fromkeys(f for f in (_fix(p.plugin) for p in reversed(presets)) if f))
        labels = " and ".join(_label(p) for p in presets)
        message = f"two sources define the preset {name!r}: {labels}. Keep one: {fixes or 'rename one'}"
        catalog.ambiguous[name] = PluginClashError(message)
        problems.append(f"{message}. Until then {name!r} is left out")
    catalog.presets = dict(sorted(catalog.presets.items()))
    for problem in problems:
        warn(problem)
    _cache = (registry, stamps, catalog)
    return catalog


def _load_named(file: Path, plugin: str) -> Preset:
    """A preset of a folder: its file must be named after it, ``<name>.yaml``."""
    preset = load_preset_file(file, plugin=plugin)
    if preset.name != file.stem:
        raise PresetError(
            f"{file}, line {preset.lines.get('name', 1)}: the preset is named {preset.name!r} but "
            f"its file {file.name!r}; name the file {preset.name}{file.suffix} (or change name:)"
        )
    return preset


def _stamp(plugin: str, path: Path) -> tuple[str, str, int, int]:
    try:
        st = path.stat()
        return (plugin, str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return (plugin, str(path), -1, -1)


def looks_like_path(text: str) -> bool:
    """Whether a target is a file path rather than a name: a YAML suffix or a separator."""
    return text.endswith(PRESET_SUFFIXES) or os.sep in text or "/" in text


def get_preset(name_or_path: str | os.PathLike) -> Preset:
    """The preset of that name, or read from that YAML file.

    >>> get_preset("resnet18").input
    (3, 224, 224)

    An unknown name is an ``UnknownPresetError`` listing the nearest names.
    """
    if isinstance(name_or_path, Preset):
        return name_or_path
    if isinstance(name_or_path, os.PathLike):
        return load_preset_file(name_or_path)
    if not isinstance(name_or_path, str):
        raise UnknownPresetError(
            f"a preset is named by text or a path, not {type(name_or_path).__name__} {name_or_path!r}"
        )
    if looks_like_path(name_or_path):
        return load_preset_file(name_or_path)
    catalog = _catalog()
    preset = catalog.presets.get(name_or_path)
    if preset is None:
        if name_or_path in catalog.ambiguous:
            raise catalog.ambiguous[name_or_path]
        if name_or_path in catalog.broken:
            raise catalog.broken[name_or_path]
        raise UnknownPresetError(
            f"unknown preset {name_or_path!r}{did_you_mean(name_or_path, catalog.presets, n=5)} ('zoo list' "
            f"shows every preset; a path to a YAML file or a folder in {ENV_PATH} adds your own)"
        )
    return preset


def find_preset(text: str) -> Preset | None:
    """The preset a target names (``zoo inspect TARGET``, ``zoo.inspect(target)``), or
    None for a block string.

    A path (a ``.yaml``/``.yml`` suffix or a separator) is read, so a broken file is
    its ``PresetError``; one word is a name (``UnknownPresetError`` when no preset has
    it); text with whitespace or parentheses is a block string.

    >>> find_preset("r32m").name, find_preset("cnf32 m r64")
    ('r32m', None)
    """
    if looks_like_path(text):
        return load_preset_file(text)
    if any(c.isspace() or c in "()" for c in text):
        return None
    return get_preset(text)


def list_presets(pattern: str | Sequence[str] = "*", tag: str | Sequence[str] = ()) -> list[Preset]:
    """The presets whose names match ``pattern`` (shell wildcards) and that carry every
    tag of ``tag``, sorted by name."""
    tags = _tags(tag)
    if isinstance(pattern, str):
        patterns = [pattern]
    elif isinstance(pattern, Sequence) and all(isinstance(p, str) for p in pattern):
        patterns = list(pattern)
    else:
        raise UnknownPresetError(
            f"a preset pattern is text such as 'resnet*' (or a list of them), not "
            f"{type(pattern).__name__} {pattern!r}"
        )
    catalog = _catalog().presets
    return [
        p for name, p in catalog.items()
        if any(fnmatch.fnmatchcase(name, pat) for pat in patterns) and tags <= set(p.tags)
    ]


def _tags(tag: str | Sequence[str]) -> set[str]:
    tags = [tag] if isinstance(tag, str) else tag
    if not isinstance(tags, Sequence) or not all(isinstance(t, str) for t in tags):
        raise UnknownPresetError(f"a preset tag is text such as 'cifar' (or a list of them), not {tag!r}")
    return set(tags)


def list_tags() -> dict[str, int]:
    """Every tag of the presets, with how many presets carry it, sorted by tag.

    >>> list_tags()["cifar"] > 10
    True
    """
    counts: dict[str, int] = {}
    for preset in _catalog().presets.values():
        for tag in preset.tags:
            counts[tag] = counts.get(tag, 0) + 1
    return dict(sorted(counts.items()))


def list_models(pattern: str | Sequence[str] = "*", tag: str | Sequence[str] = ()) -> list[str]:
    """Names of the presets that match ``pattern``, sorted, like ``timm.list_models``.

    ``pattern`` is a shell-style wildcard (``"resnet*"``, ``"r?m"``) or a list of them;
    ``tag`` keeps the presets that carry that tag (or every tag of a list).

    >>> list_models("r*m")
    ['r128m', 'r32m', 'r64m']
    >>> list_models("resnet*", tag="cifar")[:3]
    ['resnet110', 'resnet18_cifar', 'resnet18_cifar_nopool']
    """
    return [p.name for p in list_presets(pattern, tag)]
