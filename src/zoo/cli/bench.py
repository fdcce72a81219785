"""``zoo bench MODEL [--vs OTHER ...]``: models timed alternately in one process.

Each model may carry variants after ``@`` (``resnet18_cifar@channels_last``,
``@compile``, ``@bf16``), so that eager, channels-last and compiled runs of one model
are timed in the same run.
"""

from __future__ import annotations

import argparse
import json

from .common import add_model_arguments, input_size, resolve_model_argument, whole_number

EXAMPLES = """examples:
  zoo bench resnet18 --vs timm:resnet18 --infer
  zoo bench resnet18_cifar --vs resnet18_cifar@channels_last --vs resnet18_cifar@compile
  zoo bench r32m --vs r64m --batch 64 --steps 3 --repeats 5 --json
  zoo bench "cnf32 m r64_3_2" --input 3,64,64 --device cuda --amp bf16
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time models against each other (images/s, memory, GFLOP/s, share of peak)",
        description="Time a model against others in one process: each is built and warmed up, then "
        "the models run alternately, repeat after repeat. Per model: median and spread of images/s, "
        "seconds per 10^6 examples, peak memory, MACs, achieved GFLOP/s, its share of the peak "
        "(a float32 matrix product timed in the same run) and the ratio to the first model. "
        "MODEL@channels_last, MODEL@compile, MODEL@bf16 (combined with commas) apply to that model only.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(p)
    p.add_argument("--vs", action="append", default=[], metavar="OTHER",
                   help="another model to time against MODEL (repeatable); the same kinds of target")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train", dest="mode", action="store_const", const="train",
                      help="time training steps: forward, backward, SGD step (default)")
    mode.add_argument("--infer", dest="mode", action="store_const", const="infer",
                      help="time inference: forward under torch.inference_mode")
    p.set_defaults(mode="train")
    p.add_argument("--batch", type=whole_number(1), default=32, metavar="N", help="images per step (default 32)")
    p.add_argument("--input", type=input_size, metavar="C,H,W",
                   help="input size for every model (default: each model's own; C,32,32 for a block string)")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|mps", help="where to run (default cpu)")
    p.add_argument("--channels-last", action="store_true", help="every model and input in channels-last")
    p.add_argument("--compile", action="store_true", help="torch.compile every model (compiled in the warm-up)")
    p.add_argument("--amp", choices=("bf16", "fp16"), help="autocast every model to this dtype")
    p.add_argument("--threads", type=whole_number(1), metavar="N", help="torch CPU threads (default: torch's)")
    p.add_argument("--steps", type=whole_number(1), default=5, metavar="N", help="steps per timed repeat (default 5)")
    p.add_argument("--repeats", type=whole_number(1), default=5, metavar="N", help="timed repeats (default 5)")
    p.add_argument("--warmup", type=whole_number(0), default=2, metavar="N", help="warm-up steps per model (default 2)")
    p.add_argument("--no-peak", dest="peak", action="store_false",
                   help="skip the matrix product that measures the peak")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark.timing import split_variants
    targets = [args.target, *args.vs]
    for text in targets:  # every target is checked before anything is built (a mistake: exit 2)
        target, _ = split_variants(text)
        resolve_model_argument(target, args.options, trust_code=args.trust_code)

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..benchmark.timing import benchmark, check_device

    check_device(args.device)  # a DeviceError: exit 2, as every argument error (zoo.cli)
    import logging

    # inductor's "No CUDA runtime is found" on a CPU machine says nothing about the timing
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    err = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    with progress:
        report = benchmark(targets, mode=args.mode, batch=args.batch, input_size=args.input,
                           device=args.device, channels_last=args.channels_last, compile=args.compile,
                           amp=args.amp, threads=args.threads, steps=args.steps, repeats=args.repeats,
                           warmup=args.warmup, peak=args.peak, options=dict(args.options), progress=progress,
                           trust_code=args.trust_code)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    console = Console(highlight=False)
    console.print(report.render())
    return 0
