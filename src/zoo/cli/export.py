"""``zoo export MODEL --format onnx|pt2|torchscript|safetensors -o FILE``: write the model, then prove
the file: loaded back, its outputs on random inputs of two batch sizes equal the model's
(max abs difference < 1e-4), else exit 1 with the difference.
"""

from __future__ import annotations

import argparse
import json

from .common import add_model_arguments, input_size, resolve_model_argument

EXAMPLES = """examples:
  zoo export resnet18_cifar -o resnet18_cifar.onnx
  zoo export resnet18 --format pt2 -o resnet18.pt2 --batch 8
  zoo export r32m --weights runs/r32m/best.pt -o r32m.onnx --opset 18
  zoo export timm:resnet18 --format torchscript -o resnet18.pt
  zoo export resnet18_cifar --weights runs/resnet18_cifar/best.pt -o resnet18_cifar.safetensors
"""

_LOADERS = {"onnx": "onnxruntime", "pt2": "torch.export.load", "torchscript": "torch.jit.load",
            "safetensors": "zoo.create (rebuilt from its metadata)"}


def _batch(text: str) -> int | str:
    if text == "dynamic":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 'dynamic' or a whole number >= 1")
    return value


def _opset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 7 <= value <= 30:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ONNX opset: give a number such as 18")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX, torch.export (.pt2) or TorchScript, and check the file",
        description="Export a model (any MODEL of zoo inspect) to ONNX (through torch.export and "
        "torch.onnx), to a torch.export program (.pt2) or to TorchScript (torch.jit.trace). The file "
        "is then loaded back (onnxruntime for ONNX) and its outputs on random inputs of two batch "
        "sizes compared with the model's: a max abs difference of 1e-4 or more is exit 1.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(p)
    p.add_argument("--format", choices=("onnx", "pt2", "torchscript", "safetensors"),
                   help="the file format (default: from the suffix of -o: .onnx, .pt2, .pt, .safetensors)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="the file to write (default: MODEL's name and the format's suffix, here)")
    p.add_argument("--batch", type=_batch, default="dynamic", metavar="dynamic|N",
                   help="'dynamic' (default): any batch size, checked at 1 and 3; N: fixed")
    p.add_argument("--input", type=input_size, metavar="C,H,W",
                   help="input size of one image (default: the model's own; C,32,32 for a block string)")
    p.add_argument("--opset", type=_opset, metavar="N", help="ONNX opset (default: torch's)")
    p.add_argument("--weights", metavar="CKPT", help="a checkpoint from zoo train whose weights the model gets")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import OptionError
    from ..export import FORMATS, check_output_path, format_from_path

    # argument mistakes (OptionError, OutputPathError, ...) are exit 2 by class (zoo.cli)
    spec = resolve_model_argument(args.target, args.options, trust_code=args.trust_code)
    fmt = args.format or (format_from_path(args.output) if args.output else None)
    if fmt is None:
        if args.output:
            raise OptionError(f"{args.output}: say the format (--format onnx, pt2, torchscript or safetensors), "
                                "or end the file name in .onnx, .pt2, .pt or .safetensors")
        fmt = "onnx"
    if args.opset is not None and fmt != "onnx":
        raise OptionError(f"--opset applies to ONNX only, not to {fmt}")
    output = args.output or f"{_file_name(spec.name)}{FORMATS[fmt]}"
    check_output_path(output)

    from ..export import export_model

    size = args.input[-3:] if args.input else None
    result = export_model(spec, output, fmt, input_size=size, batch=args.batch, opset=args.opset,
                          weights=args.weights, trust_code=args.trust_code)
    if args.json:
        print(json.dumps({"model": spec.name, **result.to_dict()}, indent=2))
        return 0
    print(summary(spec.name, result))
    return 0


def summary(name: str, result) -> str:
    """The lines ``zoo export`` prints when the file is written and checked."""
    size = "×".join(str(d) for d in result.input_size)
    opset = f", opset {result.opset}" if result.opset else ""
    batch = "dynamic batch" if result.dynamic else f"batch {result.batches[0]}"
    diffs = ", ".join(f"{d:.1e} (batch {b})" for b, d in result.max_diff.items())
    lines = [
        f"exported {name} to {result.path} ({result.format}{opset}, {batch}, input {size})",
        f"checked with {_LOADERS[result.format]}: max abs difference {diffs} < {result.tolerance:g}",
    ]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_.") or "model"
