"""``zoo inspect TARGET``: module tree, parameters, MACs and the cost per block.

TARGET is a preset name, a YAML preset file or a block string. The model is built
on the meta device, so even a network of billions of parameters costs no memory.
"""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLES = """examples:
  zoo inspect resnet18_cifar
  zoo inspect "r64 m r128 m r256 m r512 m" --input 3,32,32
  zoo inspect "(cnf64_7_2 m3_2_1) 2r r128_3_2 r" --input 3,224,224 --set fun_after=relu --depth 4
  zoo inspect resnet18 --json
  zoo inspect r32m --set num_classes=100 --set "head={hidden: [256]}"
"""


def _input_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        size = ()
    if len(size) not in (3, 4) or min(size) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an input size: give C,H,W (e.g. 3,32,32) or B,C,H,W with whole numbers >= 1"
        )
    from ..options import input_size_problem

    problem = input_size_problem(size)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return size


def _depth(text: str) -> int:
    try:
        depth = int(text)
    except ValueError:
        depth = -1
    if depth < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a depth: give a whole number >= 0")
    return depth


def _value(text: str):
    """The value of ``--set option=value``: bool, int, float, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _option(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write an option as name=value, e.g. --set fun=gelu")
    return name.strip(), _value(value)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a model's tree, parameters, MACs and cost per block",
        description="Show the module tree (parameters, share, input -> output shapes, MACs) and the "
        "cost per top-level block (pars in thousands, ops in millions of MACs, output width w, "
        "input volume / output volume V0/V) of a preset, a YAML preset file or a block string. "
        "Runs on the meta device: no memory for weights.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help="a preset name, a YAML preset file, or a block string (quoted)")
    p.add_argument("--input", type=_input_size, metavar="C,H,W",
                   help="input size, B,C,H,W for a batch (default: the preset's input; for a block string C,32,32)")
    p.add_argument("--depth", type=_depth, metavar="N",
                   help="expand the tree down to level N, the model being level 0 (default: the CNN's blocks and their parts)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--set", dest="options", type=_option, action="append", default=[], metavar="OPTION=VALUE",
                   help="change a CNN option, e.g. --set fun=gelu (repeatable); a preset also takes "
                   "num_classes=N, input=C and head='{hidden: [256], dropout: 0.2}'")
    p.set_defaults(run=run)


def _check_options(target: str, options: dict) -> str | None:
    """What is wrong with the ``--set`` options for ``target`` (None: nothing).

    A preset takes its overrides (num_classes, input, head, every CNN option, checked
    as ``zoo.create`` checks them); a block string takes CNN options only. A target
    that is neither is reported by the inspection itself (exit 1)."""
    from ..errors import OptionError, PresetError, UnknownOptionError, UnknownPresetError, ZooError
    from ..language import parse_blocks
    from ..presets import check_cnn_options, find_preset

    try:
        preset = find_preset(target.strip())
    except UnknownPresetError:  # one word: a block string such as c8, or a misspelt name
        try:
            parse_blocks(target)
        except ZooError:  # neither: the inspection says so
            return None
        preset = None
    except ZooError:  # a broken preset file: the inspection says so
        return None
    try:
        if preset is None:
            check_cnn_options(options)
            return None
        if isinstance(options.get("head"), str):  # --set head={hidden: [256], dropout: 0.2}
            import yaml

            try:
                options["head"] = yaml.safe_load(options["head"])
            except yaml.YAMLError:
                return f"head={options['head']!r} is not a YAML mapping; write e.g. head='{{hidden: [256]}}'"
        preset.resolve(**options)
    except (OptionError, UnknownOptionError, PresetError) as exc:
        return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    from ..errors import ShapeError

    options = dict(args.options)
    problem = _check_options(args.target, options)  # arguments: a mistake is exit 2
    if problem is not None:
        print(f"zoo inspect: error: --set: {problem}", file=sys.stderr)
        return 2

    from rich.console import Console

    _import_flop_counter_without_triton()
    from ..inspector import inspect
    from ..inspector.render import render_report

    console = Console(highlight=False)
    try:
        report = inspect(args.target, args.input, **options)
    except ShapeError as error:
        partial = getattr(error, "report", None)
        if partial is not None:
            if args.json:
                print(json.dumps(partial.to_dict(), indent=2))
            else:
                _print(console, render_report(partial, args.depth, costs=False, error=False))
        raise
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    _print(console, render_report(report, args.depth))
    return 0


def _import_flop_counter_without_triton() -> None:
    """Import ``torch.utils.flop_counter`` without the ``triton`` it tries on import.

    The counter imports triton only to recognise triton kernels, which never run
    when zoo inspects (eager, meta device); triton's import costs about 0.15 s, a
    tenth of ``import torch``. Done only here, in the command's own process: a
    library caller's process keeps torch's behaviour.
    """
    import logging

    if "triton" in sys.modules or "torch.utils.flop_counter" in sys.modules:
        return
    logger = logging.getLogger("torch.utils.flop_counter")
    disabled = logger.disabled
    logger.disabled = True  # its "triton not found" warning is about exactly this
    sys.modules["triton"] = None  # type: ignore[assignment]  # makes `import triton` fail fast
    try:
        import torch.utils.flop_counter  # noqa: F401
    finally:
        del sys.modules["triton"]
        logger.disabled = disabled


def _print(console, renderable) -> None:
    if not console.is_terminal:  # a file or a pipe: no wrapping of the tree's columns
        wide = console.options.update_width(1000)
        console.width = max(80, console.measure(renderable, options=wide).maximum)
    console.print(renderable)
