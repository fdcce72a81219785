"""zoo.Trainer.fit against a minimal hand-written training loop.

    python bench/bench_trainer.py [--model "cnf32 m r64_3_2 r r128_3_2"] [--batch 100]
                                  [--batches 20] [--repeats 5] [--device cpu|cuda]
                                  [--channels-last] [--compile] [--amp bf16|fp16]
                                  [--log tensorboard|none]

Same model (two copies of one initialisation), same optimizer (Adam), the same
images in memory on the device; the hand loop is forward, loss, zero_grad,
backward, step over batches sliced beforehand. Each repeat times one epoch of each,
in alternating order, so that the machine's noise hits both alike; the ratio
hand/trainer of the median epoch times is reported (1.00: the trainer costs
nothing; the target is >= 0.97), with the median of the repeats' own ratios
("paired": each repeat's two epochs ran back to back, under the same load) and the
ratio of the best epochs. ``--channels-last``, ``--compile`` and ``--amp``
apply to both loops and are measured against the plain fp32 loop as well. A large
fp32 matrix product in the same run gives the machine's peak, to say how much of it
the training step uses. The trainer runs as a user runs it: with a callback of the
user's (counting steps and reading the numbers it is handed) and a logger
(``--log tensorboard``, the default: event files into a temporary folder).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, n: int, repeats: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def hand_epoch(model, optimizer, batches, device, amp, channels_last) -> float:
    loss_fn = torch.nn.CrossEntropyLoss()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    model.train()
    sync(device)
    start = time.perf_counter()
    for x, y in batches:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
    sync(device)
    return time.perf_counter() - start


def trainer_epoch(trainer, device) -> float:
    sync(device)
    start = time.perf_counter()
    trainer.fit(1)
    sync(device)
    return time.perf_counter() - start


def callbacks(args, folder: str) -> list:
    from zoo.train import Callback

    class Count(Callback):
        steps, readings = 0, 0

        def on_step(self, trainer, step):
            self.steps += 1
            self.readings += step.numbers is not None

    found = [Count()]
    if args.log == "tensorboard":
        from zoo.train.loggers import TensorBoardLogger

        found.append(TensorBoardLogger(folder))
    return found


def measure(args, device, *, channels_last=False, compile=False, amp=None) -> dict:
    from zoo import Trainer
    from zoo.target import resolve_model
    from zoo.train import BatchAugment

    torch.manual_seed(0)
    model = resolve_model(args.model).with_data(num_classes=10, channels=3).build().to(device)
    twin = copy.deepcopy(model)
    x = torch.randn(args.batches * args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 10, (args.batches * args.batch,), device=device)
    batches = [(x[i:i + args.batch], y[i:i + args.batch]) for i in range(0, len(x), args.batch)]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    hand_model = torch.compile(model) if compile else model
    hand_optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(twin, (x, y), None, batch_size=args.batch, lr=1e-3, device=device, amp=amp,
                      channels_last=channels_last, compile=compile, progress="none",
                      augment=BatchAugment("none"), callbacks=callbacks(args, tempfile.mkdtemp(prefix="bench-tb-")))
    # warm-up (allocator, cuDNN choice, compilation)
    hand_epoch(hand_model, hand_optimizer, batches[:3], device, amp, channels_last)
    trainer_epoch(trainer, device)
    hand, ours = [], []
    for repeat in range(args.repeats):
        if repeat % 2:
            ours.append(trainer_epoch(trainer, device))
            hand.append(hand_epoch(hand_model, hand_optimizer, batches, device, amp, channels_last))
        else:
            hand.append(hand_epoch(hand_model, hand_optimizer, batches, device, amp, channels_last))
            ours.append(trainer_epoch(trainer, device))
    examples = len(x)
    return {"hand": statistics.median(hand), "trainer": statistics.median(ours),
            "hand_best": min(hand), "trainer_best": min(ours), "examples": examples,
            "paired": statistics.median(h / o for h, o in zip(hand, ours))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnf32 m r64_3_2 r r128_3_2")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--amp", choices=("bf16", "fp16"))
    parser.add_argument("--log", choices=("tensorboard", "none"), default="tensorboard",
                        help="the logger the trainer runs with (tensorboard)")
    args = parser.parse_args()
    device = torch.device(args.device)

    import zoo

    macs = zoo.inspect(args.model, input_size=(3, args.size, args.size)).macs
    peak = matmul_gflops(device, 4096 if device.type == "cuda" else 1024)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"model {args.model!r}: {macs / 1e6:.1f}M MACs per image; batch {args.batch}, "
          f"{args.batches} batches per epoch, {args.repeats} repeats; trainer with a callback and "
          f"logger {args.log}")
    print(f"machine peak (fp32 matmul): {peak:,.0f} GFLOP/s")
    settings = [("fp32", {})]
    extra = {}
    if args.channels_last:
        extra["channels_last"] = True
    if args.compile:
        extra["compile"] = True
    if args.amp:
        extra["amp"] = args.amp
    if extra:
        settings.append(("+".join(k.replace("_", "-") if v is True else f"amp {v}" for k, v in extra.items()), extra))
    base = None
    print(f"{'setting':<24} {'hand ex/s':>10} {'trainer ex/s':>13} {'hand/trainer':>13} {'paired':>7} {'best':>6} "
          f"{'vs fp32':>8} {'% peak':>7}")
    for name, options in settings:
        result = measure(args, device, **options)
        ratio = result["hand"] / result["trainer"]
        best = result["hand_best"] / result["trainer_best"]
        speed = result["examples"] / result["trainer"]
        base = base or speed
        flops = 3 * 2 * macs * speed / 1e9  # forward + backward ~ 3 x forward
        print(f"{name:<24} {result['examples'] / result['hand']:>10,.0f} {speed:>13,.0f} {ratio:>13.3f} "
              f"{result['paired']:>7.3f} {best:>6.3f} {speed / base:>7.2f}x {100 * flops / peak:>6.1f}%")


if __name__ == "__main__":
    main()
