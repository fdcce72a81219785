"""Preset files: one YAML file -> one :class:`Preset`, checked key by key with its
line numbers (the schema), and ``write_counts``. No torch; building is
:mod:`zoo.presets.factory`'s, finding presets :mod:`zoo.presets.catalog`'s."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import (
    OptionError,
    PresetError,
    UnknownOptionError,
    ZooError,
    did_you_mean,
)
from ..options import DOCUMENT_NAMES, Config, declared_options
from ..registry.limits import MAX_CHANNELS, MAX_SIDE, MAX_WIDTH
from ..registry.registry import get_registry
from ..registry.specs import Param, as_whole

if TYPE_CHECKING:
    from ..classifier import Classifier


ENV_PATH = "ZOO_PRESET_PATH"
KEYS = ("name", "description", "tags", "input", "blocks", "options", "head", "params", "macs")
REQUIRED = ("name", "description", "input", "blocks", "head")


def _hidden_widths(value: Any, where: str) -> list[int]:
    widths = [] if value is None else [as_whole(h) for h in value] if isinstance(value, (list, tuple)) else [None]
    if not all(w is not None and 1 <= w <= MAX_WIDTH for w in widths):
        raise OptionError(f"{where}: must be a list of layer widths >= 1 such as [512, 256], "
                          f"at most {MAX_WIDTH:,} each")
    return widths


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise OptionError(f"{where}: must be a probability 0 <= p < 1")
    return float(value)


# a head's keys, checked as the options are (Param.check): the classifier's arguments
HEAD = {param.name: param for param in (
    Param("num_classes", int, min=0, max=MAX_WIDTH, help="the last Linear's outputs; 0: no last Linear"),
    Param("hidden", validate=_hidden_widths),
    Param("dropout", float, validate=_probability),
    Param("fun", str, table="activations"),
)}
HEAD_KEYS = tuple(HEAD)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_TAGS = 16
_FORMAT = (
    "a preset is a mapping with the keys name, description, tags (optional), input ([C, H, W]), "
    "blocks, options (optional), head ({num_classes: N}), params and macs (optional)"
)


@dataclass(frozen=True)
class Preset:
    """One named model, as read from its YAML file (no torch needed)."""

    name: str
    description: str
    input: tuple[int, int, int]  # (C, H, W) of one image
    blocks: str
    options: dict[str, Any]  # options of zoo.Config besides input and blocks
    head: dict[str, Any]  # num_classes, hidden (list), dropout, fun
    params: int | None  # parameter count written in the file
    macs: int | None  # multiply-accumulates of one image, written in the file
    path: Path
    plugin: str = ""  # "zoo", a plugin's name, or "" (ZOO_PRESET_PATH, a path)
    tags: tuple[str, ...] = ()  # the data and family it belongs to: cifar, resnet, ... (zoo list --tag)
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def source(self) -> str:
        """Where the preset comes from, for listings: zoo, a plugin, or user."""
        return self.plugin or "user"

    def config(self, input: int | None = None, **options: Any) -> Config:
        """The preset's options as a ``zoo.Config`` (with ``blocks`` and ``input``)."""
        values = {**self.options, "blocks": self.blocks, "input": self.input[0]}
        if input is not None:
            values["input"] = input
        values.update(options)
        return Config(**values)

    def create(
        self,
        *,
        num_classes: int | None = None,
        input: int | None = None,
        head: dict[str, Any] | None = None,
        **options: Any,
    ) -> Classifier:
        """Build the model: ``Classifier`` with ``.cnn`` and ``.head``.

        ``num_classes`` and ``input`` (channels) override the file's values, ``head``
        any of its head keys (``{"hidden": [256], "dropout": 0.2}``), and ``options``
        any option of ``zoo.Config``.

        >>> from zoo.presets import get_preset
        >>> get_preset("r32m").create(num_classes=100, fun="gelu").head.fc.out_features
        100
        """
        from .factory import build_preset

        cfg, heads = self.resolve(num_classes=num_classes, input=input, head=head, **options)
        return build_preset(self, cfg, heads)

    def resolve(
        self,
        *,
        num_classes: int | None = None,
        input: int | None = None,
        head: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[Config, dict[str, Any]]:
        """Check the overrides :meth:`create` takes, without building anything (no
        torch): returns the network's ``Config`` and the head's keys. ``blocks`` is
        checked like a preset file's (a block string that parses).

        >>> from zoo.presets import get_preset
        >>> cfg, head = get_preset("r32m").resolve(num_classes=100, fun="gelu")
        >>> cfg.fun, head
        ('gelu', {'num_classes': 100})
        """
        where = f"create({self.name!r})"
        check_overrides(options)
        heads = dict(self.head)
        if head is not None:
            if not isinstance(head, dict):
                raise PresetError(f"{where}: head={head!r} must be a dict of {', '.join(HEAD_KEYS)}")
            heads.update(_check_head(head, f"{where}: head", {}))
        if num_classes is not None:
            heads.update(_check_head({"num_classes": num_classes}, where, {}))
        if input is not None:
            channels = as_whole(input)
            if channels is None or not 1 <= channels <= MAX_CHANNELS:
                raise PresetError(f"{where}: input={input!r} must be a number of channels from 1 to {MAX_CHANNELS:,}")
            input = channels
        if "blocks" in options:
            _check_blocks(options["blocks"], where)
        return self.config(input=input, **options), heads

    def to_dict(self) -> dict[str, Any]:
        """Everything ``zoo list --json`` shows."""
        return {
            "name": self.name,
            "description": self.description,
            "tags": list(self.tags),
            "input": list(self.input),
            "blocks": self.blocks,
            "options": dict(self.options),
            "head": dict(self.head),
            "params": self.params,
            "macs": self.macs,
            "source": self.source,
            "path": str(self.path),
        }


# -- reading and checking one file ------------------------------------------------------


# A preset file is a short mapping (the shipped ones are under 1 KB): anything much
# bigger, deeper or with aliases is a mistake or an attack, refused before it costs.
MAX_FILE_BYTES = 64 * 1024
MAX_NESTING = 8  # mapping -> head -> hidden -> item is 3 levels
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")}


def _walk(root: yaml.Node, where: str) -> dict[str, int]:
    """Check the composed document and record the 1-based line of every key
    (``"options.fun"``) and list item. Each node is visited once: an alias shows as
    a node seen before (libyaml composes ``*a`` as the anchored node itself, so a
    billion-laughs file costs nothing until something expands it, which this
    prevents), and a self-referencing alias as a cycle."""
    lines: dict[str, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str, int, int]] = [(root, "", 1, root.start_mark.line + 1)]
    while stack:
        node, path, depth, line = stack.pop()
        if id(node) in seen:
            raise PresetError(
                f"{where}, line {line}: {path or 'the document'} is an alias (*name) of a value "
                "written elsewhere; anchors and aliases are not allowed in a preset: write the "
                "value out where it is used"
            )
        seen.add(id(node))
        if depth > MAX_NESTING:
            raise PresetError(
                f"{where}, line {line}: {path} is nested {depth} levels deep; a preset is a flat "
                f"mapping (at most {MAX_NESTING} levels, e.g. head: {{hidden: [256]}})"
            )
        if node.tag == "tag:yaml.org,2002:merge":
            raise PresetError(
                f"{where}, line {node.start_mark.line + 1}: merge keys (<<: *name) are not allowed "
                "in a preset: write the keys out"
            )
        if node.tag not in _PLAIN_TAGS:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise PresetError(
                f"{where}, line {node.start_mark.line + 1}: the tag {shown} is not allowed: a preset "
                "file holds plain data only (text, numbers, lists, mappings) and can never build "
                "objects or run code"
            )
        if isinstance(node, yaml.ScalarNode):
            if node.tag.endswith(":int") and len(node.value) > 40:
                raise PresetError(
                    f"{where}, line {node.start_mark.line + 1}: {path} is a number of "
                    f"{len(node.value)} digits, far beyond any size zoo takes"
                )
            if node.tag.endswith((":int", ":float")) and ":" in node.value:
                raise PresetError(
                    f"{where}, line {node.start_mark.line + 1}: {node.value} is a YAML 1.1 base-60 "
                    f"number (it would read as {_sexagesimal(node.value)}); write the number itself, "
                    f"or quote it (\"{node.value}\") if it is text"
                )
        elif isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, _ in node.value:  # lines first, in document order
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                at = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and name in keys:
                    raise PresetError(
                        f"{where}, line {at}: the key {name!r} appears twice (lines {keys[name]} and "
                        f"{at}); keep one"
                    )
                keys[name] = at
                lines.setdefault(f"{path}.{name}" if path else name, at)
            for key, value in reversed(node.value):  # popped in document order
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                dotted = f"{path}.{name}" if path else name
                at = key.start_mark.line + 1
                stack.append((value, dotted, depth + 1, at))
                stack.append((key, dotted, depth + 1, at))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(f"{path}[{i}]", item.start_mark.line + 1)
            for i, item in reversed(list(enumerate(node.value))):
                # an alias's node carries its anchor's line: say the list's instead
                at = line if id(item) in seen else item.start_mark.line + 1
                stack.append((item, f"{path}[{i}]", depth + 1, at))
    return lines


def _sexagesimal(text: str) -> str:
    sign = -1 if text.startswith("-") else 1
    value = 0.0 if "." in text else 0
    for part in text.lstrip("+-").replace("_", "").split(":"):
        value = value * 60 + (float(part) if "." in part else int(part or 0))
    return str(sign * value)


def _read_yaml(text: str, where: str) -> tuple[Any, dict[str, int]]:
    """Parse once (libyaml where available), check the node graph, then build the
    plain data from it: aliases, deep nesting and tags are refused before any value
    is built."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _walk(node, where)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or str(exc)
        context = f" {exc.context}" if exc.context else ""
        raise PresetError(
            f"{where}, line {line}: this is not valid YAML ({problem}{context}); "
            "check the indentation and quoting there (a block string is safest in double quotes)"
        ) from None
    except yaml.YAMLError as exc:
        raise PresetError(f"{where}: this is not valid YAML ({exc})") from None
    except PresetError:  # _walk's own (a ValueError too)
        raise
    except (ValueError, TypeError) as exc:  # a value the constructor cannot build
        raise PresetError(f"{where}: a value cannot be read ({exc})") from None
    except RecursionError:  # the pure-Python composer on a very deep document
        raise PresetError(
            f"{where}: the YAML is nested too deeply; a preset is a flat mapping (at most "
            f"{MAX_NESTING} levels)"
        ) from None
    finally:
        loader.dispose()


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text",
            list: "a list", dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_blocks(blocks: Any, where: str) -> str:
    """A preset's blocks, from its file or an override: a block string that parses."""
    if not isinstance(blocks, str) or not blocks.strip():
        raise PresetError(
            f"{where}: blocks must be a block string such as \"(cnf64 m) 2r r128_3_2\", "
            f"not {blocks!r}"
        )
    from ..language import parse_blocks

    try:
        parse_blocks(blocks)
    except ZooError as exc:
        raise PresetError(f"{where}: the blocks do not parse:\n{exc}") from None
    return blocks


def _check_head(head: Any, where: str, lines: dict[str, int], key: str = "head") -> dict[str, Any]:
    def at(sub: str = "") -> str:
        line = lines.get(f"{key}.{sub}" if sub else key)
        return f"{where}, line {line}" if line else where

    if not isinstance(head, dict):
        raise PresetError(
            f"{at()}: head must be a mapping such as {{num_classes: 10}}, not {_type_name(head)}"
        )
    for name in head:
        if name not in HEAD:
            raise PresetError(
                f"{at(str(name))}: unknown head key {name!r}{did_you_mean(str(name), HEAD_KEYS)} "
                f"(a head takes {', '.join(HEAD_KEYS)})"
            )
    out: dict[str, Any] = {}
    for name, param in HEAD.items():
        if name in head:
            try:
                out[name] = param.check(head[name], "head.", tables=get_registry() if param.table else None)
            except OptionError as exc:
                raise PresetError(f"{at(name)}: {exc}") from None
    return out


def _parse(data: Any, lines: dict[str, int], where: str, path: Path, plugin: str) -> Preset:
    def at(key: str) -> str:
        line = lines.get(key)
        return f"{where}, line {line}" if line else where

    if data is None:
        raise PresetError(f"{where}: the file is empty; {_FORMAT}")
    if not isinstance(data, dict):
        raise PresetError(f"{where}, line 1: the file holds {_type_name(data)}; {_FORMAT}")
    for key in data:
        if key not in KEYS:
            raise PresetError(
                f"{at(str(key))}: unknown key {key!r}{did_you_mean(str(key), KEYS)} "
                f"(a preset takes {', '.join(KEYS)})"
            )
    for key in REQUIRED:
        if key not in data:
            raise PresetError(f"{where}: the key {key!r} is missing; {_FORMAT}")

    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise PresetError(
            f"{at('name')}: name must be lower-case letters, digits and '_', starting with a "
            f"letter (it becomes the timm model zoo_<name>), not {name!r}"
        )
    description = data["description"]
    if not isinstance(description, str) or not description.strip():
        raise PresetError(f"{at('description')}: description must be a line of text, not {description!r}")

    tags = data.get("tags") or []
    if not (
        isinstance(tags, list) and len(tags) <= MAX_TAGS
        and all(isinstance(t, str) and _TAG.match(t) for t in tags)
    ):
        raise PresetError(
            f"{at('tags')}: tags must be a list of up to {MAX_TAGS} lower-case words (letters, digits, "
            f"'_' and '-', at most 32 characters), such as [cifar, resnet], not {tags!r}"
        )

    shape = data["input"]
    if not (
        isinstance(shape, list) and len(shape) == 3 and all(_whole(v) and v >= 1 for v in shape)
        and shape[0] <= MAX_CHANNELS and max(shape[1:]) <= MAX_SIDE
    ):
        raise PresetError(
            f"{at('input')}: input must be the shape of one image [C, H, W], three whole numbers "
            f">= 1 such as [3, 32, 32] (C up to {MAX_CHANNELS:,}, H and W up to {MAX_SIDE:,}), "
            f"not {shape!r}"
        )

    blocks = _check_blocks(data["blocks"], at("blocks"))

    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise PresetError(f"{at('options')}: options must be a mapping such as {{fun: gelu}}, not {options!r}")
    for key, value in options.items():
        if key in ("input", "blocks"):
            raise PresetError(
                f"{at('options.' + str(key))}: {key!r} is a top-level key of a preset, not an option "
                f"here; move it out of options"
            )
        try:
            Config(**{str(key): value})
        except ZooError as exc:
            raise PresetError(f"{at('options.' + str(key))}: {exc}") from None

    head = _check_head(data["head"], where, lines)
    if "num_classes" not in head:
        raise PresetError(f"{at('head')}: head.num_classes is missing, e.g. head: {{num_classes: 10}}")

    counts: dict[str, int | None] = {}
    for key in ("params", "macs"):
        value = data.get(key)
        if value is not None and (not _whole(value) or value < 0):
            raise PresetError(f"{at(key)}: {key} must be a whole number (written by zoo), not {value!r}")
        counts[key] = value

    return Preset(
        name=name,
        description=" ".join(description.split()),
        input=(shape[0], shape[1], shape[2]),
        blocks=" ".join(blocks.split()),
        options=dict(options),
        head=head,
        params=counts["params"],
        macs=counts["macs"],
        path=path,
        plugin=plugin,
        tags=tuple(dict.fromkeys(tags)),
        lines=dict(lines),
    )


def load_preset_file(path: str | os.PathLike, plugin: str = "") -> Preset:
    """Read and check one preset file; ``PresetError`` names the file and line.

    >>> load_preset_file("presets/r32m.yaml").params
    1607818
    """
    path = Path(path)
    where = str(path)
    raw = _read_bounded(path, where)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PresetError(f"{where}, line {line}: the file is not UTF-8 text") from None
    data, lines = _read_yaml(text, where)
    return _parse(data, lines, where, path, plugin)


def _read_bounded(path: Path, where: str) -> bytes:
    """The bytes of a regular file of at most ``MAX_FILE_BYTES``: a FIFO, a device (a
    link to /dev/zero) or a huge file is refused before it is read."""
    try:
        # O_NONBLOCK: opening a FIFO for reading does not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise PresetError(f"{where}: no such preset file") from None
    except OSError as exc:
        raise PresetError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(
                info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(
                info.st_mode) else "not a regular file"
            raise PresetError(f"{where}: this is {kind}, not a preset file; a preset is a YAML text file")
        raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise PresetError(
            f"{where}: the file is over {MAX_FILE_BYTES // 1024} KiB, the size limit of a preset "
            "file (zoo's own are under 1 KB); is it really a preset?"
        )
    return raw


def write_counts(preset: Preset, params: int, macs: int) -> Path:
    """Write ``params`` and ``macs`` into a user's preset file (so ``zoo list`` shows them
    without torch): the top-level ``params:``/``macs:`` lines are replaced, or added at
    the end. zoo's and the plugins' presets are refused: their counts are checked by
    their tests."""
    if preset.plugin:
        raise PresetError(
            f"{preset.name} comes from {preset.plugin!r}, whose counts are written and tested; "
            "--write-counts writes into your own preset files only"
        )
    lines = preset.path.read_text(encoding="utf-8").splitlines()
    values = {"params": params, "macs": macs}
    for index, line in enumerate(lines):
        key = line.split(":", 1)[0]
        if key in values and ":" in line:
            lines[index] = f"{key}: {values.pop(key)}"
    lines += [f"{key}: {value}" for key, value in values.items()]
    try:
        preset.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PresetError(f"{preset.path}: cannot write the counts ({exc.strerror})") from None
    return preset.path  # the catalog sees the new size and time and reads it again


TIMM_NAMES = {  # timm's create_model keywords -> what zoo.create takes instead
    "in_chans": "input (input=1 for gray images)",
    "drop_rate": "the head's dropout (head={'dropout': 0.2})",
    "drop_path_rate": "drop-block (Change.drop_block(model, p) after create)",
    "global_pool": "pool (pool=1 average, pool=2 max)",
    "pretrained": "an argument of zoo.create (zoo.create(name, pretrained=True): timm's weights)",
}


def check_overrides(options: dict[str, Any]) -> None:
    """Refuse an override that is no option of ``zoo.Config`` (nor ``num_classes``,
    ``input``, ``head``), naming what zoo calls a timm or document word."""
    declared = declared_options()
    unknown = [k for k in options if k not in declared]
    if unknown:
        name = unknown[0]
        if name in DOCUMENT_NAMES:
            raise UnknownOptionError(f"unknown option {name!r}: {DOCUMENT_NAMES[name]}")
        if name in TIMM_NAMES:  # a timm user's word for something zoo names otherwise
            raise UnknownOptionError(
                f"unknown option {name!r}: timm's {name} is {TIMM_NAMES[name]} in zoo.create "
                "(a preset takes num_classes, input, head and the options of zoo.Config)"
            )
        candidates = [*declared, "num_classes", "input", "head"]
        raise UnknownOptionError(
            f"unknown option {name!r}{did_you_mean(name, candidates)} (a preset takes num_classes, "
            "input, head and the options of zoo.Config)"
        )
