"""``zoo inspect MODEL``: module tree, parameters, MACs and the cost per block.

MODEL is any target of :mod:`zoo.target` (a preset, a YAML file, a block string, a
checkpoint, ``timm:NAME``, ``torchvision:NAME``, ``module:function``). Models are
built on the meta device, so even a network of billions of parameters costs no
memory. ``--input`` takes any inputs :mod:`zoo.inputs` reads.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_model_arguments, model_inputs, resolve_model_argument, whole_number

EXAMPLES = """examples:
  zoo inspect resnet18_cifar
  zoo inspect "r64 m r128 m r256 m r512 m" --input 3,32,32
  zoo inspect "(cnf64_7_2 m3_2_1) 2r r128_3_2 r" --input 3,224,224 --depth 4
  zoo inspect resnet18 --json
  zoo inspect timm:efficientnet_b0
  zoo inspect torchvision:resnet50 --input 3,160,160
  zoo inspect mypkg.nets:build --set width=64    (a function returning a module)
  zoo inspect nets.py:build --input "ids:int64[1,128]; mask:bool[1,128]"
  zoo inspect r32m --set num_classes=100 --set "head={hidden: [256]}"
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a model's tree, parameters, MACs and cost per block",
        description="Show the module tree (parameters, share, input -> output shapes, MACs) and the "
        "cost per top-level block (pars in thousands, ops in millions of MACs, output width w, "
        "input volume / output volume V0/V) of any model: a preset, a YAML preset file, a block "
        "string, a checkpoint, timm:NAME, torchvision:NAME or module:function. Runs on the meta "
        "device: no memory for weights (a module whose forward reads values runs on real ones, "
        "up to its last read).",
        epilog=EXAMPLES,
    )
    add_model_arguments(p)
    p.add_argument("--input", type=model_inputs, action="append", metavar="INPUT",
                   help="the input: C,H,W (a batch of 1 added for image models), B,C,H,W, [2,10,8] (the "
                   "whole shape), int64[1,128] (a dtype), ids:int64[1,128] (a keyword input); repeat "
                   "--input or separate with ';' for several (default: the model's own input size; "
                   "for a block string C,32,32)")
    p.add_argument("--depth", type=whole_number(0, "a depth"), metavar="N",
                   help="expand the tree down to level N, the model being level 0 (default: the CNN's blocks and their parts)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--write-counts", action="store_true",
                   help="write the parameters and MACs into your preset file (params:, macs:), "
                   "so that zoo list shows them without torch")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import OptionError, ShapeError, UnknownOptionError

    spec = resolve_model_argument(args.target, args.options, trust_code=args.trust_code)  # a --set mistake: exit 2

    from rich.console import Console

    _import_flop_counter_without_triton()
    from ..inspector.inspection import inspect
    from ..inspector.render import render_report

    console = Console(highlight=False)
    try:
        inputs = [one for given in args.input for one in given] if args.input else None
        report = inspect(spec, inputs)
    except (OptionError, UnknownOptionError) as exc:  # an option the model's function refuses
        print(f"zoo inspect: error: --set: {exc}", file=sys.stderr)
        return 2
    except ShapeError as error:
        partial = getattr(error, "report", None)
        if partial is not None:
            if args.json:
                print(json.dumps(partial.to_dict(), indent=2))
            else:
                _print(console, render_report(partial, args.depth, costs=False, error=False))
        raise
    if args.write_counts:
        _write_counts(spec, args, report)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    _print(console, render_report(report, args.depth))
    return 0


def _write_counts(spec, args: argparse.Namespace, report) -> None:
    from ..errors import OptionError
    from ..presets import write_counts

    if spec.preset is None or args.options or args.input:
        raise OptionError(
            "--write-counts writes a preset file's own counts: give the preset or its YAML file, "
            "without --set or --input"
        )
    path = write_counts(spec.preset, report.params, report.macs)
    print(f"wrote params: {report.params} and macs: {report.macs} into {path}", file=sys.stderr)


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
    import os

    if console.is_terminal:
        console.print(renderable)
        return
    if not os.environ.get("COLUMNS"):  # a file or a pipe: no wrapping of the tree's columns
        wide = console.options.update_width(1000)
        console.width = max(80, console.measure(renderable, options=wide).maximum)
    # COLUMNS set: its width, as every other command; no padding after the last column
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
