"""``zoo predict MODEL IMAGE|FOLDER|GLOB ...``: the top classes of images, with the
preprocessing the checkpoint stored (size, channels, mean/std, class names)."""

from __future__ import annotations

import argparse
import json

from .common import whole_number

EXAMPLES = """examples:
  zoo predict runs/cnf32_m_r64/best.pt digit.png
  zoo predict runs/cnf32_m_r64/best.pt pictures/ --top-k 3
  zoo predict runs/cnf32_m_r64/best.pt "pictures/*.png" --json
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify images with a trained model (a checkpoint of zoo train)",
        description="Classify images with a checkpoint that zoo train wrote: each image is read, made gray "
        "or RGB and of the size the model was trained on, normalised with the training data's mean and "
        "std (all stored in the checkpoint), and the top classes are printed with their probabilities.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a checkpoint (.pt) written by zoo train")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files, folders of images, or glob patterns")
    p.add_argument("--top-k", type=whole_number(1), default=1, metavar="K", help="classes per image (1)")
    p.add_argument("--batch", type=whole_number(1), default=64, metavar="N", help="images per forward pass (64)")
    p.add_argument("--device", metavar="DEV", help="cpu (default), cuda, ...")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("--trust-code", action="store_true",
                   help="allow a checkpoint whose model is built by Python code (that code runs)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark.timing import check_device
    from ..checkpoint import read_checkpoint
    from ..prediction import predict

    device = str(check_device(args.device)) if args.device else "cpu"
    checkpoint = read_checkpoint(args.model, trust_code=args.trust_code)
    predictions = predict(checkpoint, args.images, top_k=args.top_k, batch=args.batch, device=device)
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..format import plain

    table = Table(title=Text(plain(f"{checkpoint.name}: {len(predictions)} image{'s' if len(predictions) != 1 else ''}")))
    table.add_column("image", overflow="fold")
    table.add_column("class")
    table.add_column("p", justify="right")
    if args.top_k > 1:
        table.add_column("next", overflow="fold")
    for prediction in predictions:
        cells = [Text(plain(prediction.source)), Text(plain(prediction.label)), f"{prediction.probability:.3f}"]
        if args.top_k > 1:
            cells.append(Text(plain(", ".join(f"{c} {p:.3f}" for c, p in prediction.top[1:]))))
        table.add_row(*cells)
    console = Console(highlight=False)
    console.print(table)
    for prediction in predictions:
        for note in prediction.notes:
            console.print(Text(plain(f"note: {prediction.source}: {note}")))
    if checkpoint.preprocessing is None:
        console.print(f"note: {checkpoint.path} stores no preprocessing (an older zoo wrote it): the images go "
                      "in as 0..1 values, without normalisation", highlight=False, markup=False)
    return 0
