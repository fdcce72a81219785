"""zoo's resnet18_cifar against the same network written by hand in plain PyTorch.

    python bench/bench_build_train.py [--repeats 7] [--steps 5] [--batch 32]

Both models are built and trained in the same process, interleaved, so that the
machine's noise hits both alike. Speed is reported as ratios hand/zoo of the medians
and of the best repeats: 1.00 means zoo is exactly as fast, above 1 faster.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from zoo import CNN


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return out + (x if self.down is None else self.down(x))


def hand_resnet18_cifar(classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        BasicBlock(64, 64), BasicBlock(64, 64),
        BasicBlock(64, 128, 2), BasicBlock(128, 128),
        BasicBlock(128, 256, 2), BasicBlock(256, 256),
        BasicBlock(256, 512, 2), BasicBlock(512, 512),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes),
    )


def zoo_resnet18_cifar(classes: int = 10) -> nn.Module:
    cnn = CNN(blocks="(cnf64 m) 2r r128_3_2 r r256_3_2 r r512_3_2 r")
    return nn.Sequential(cnn, nn.Linear(512, classes))


def time_build(make, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        make()
    return (time.perf_counter() - start) / n


def time_train(model: nn.Module, x, y, steps: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    torch.manual_seed(0)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    zoo_model, hand_model = zoo_resnet18_cifar(), hand_resnet18_cifar()
    n_zoo = sum(p.numel() for p in zoo_model.parameters())
    n_hand = sum(p.numel() for p in hand_model.parameters())
    assert n_zoo == n_hand == 11_173_962, (n_zoo, n_hand)
    time_train(zoo_model, x, y, 2), time_train(hand_model, x, y, 2)  # warm-up

    builds, steps = {"zoo": [], "hand": []}, {"zoo": [], "hand": []}
    for i in range(args.repeats):
        order = [("zoo", zoo_resnet18_cifar, zoo_model), ("hand", hand_resnet18_cifar, hand_model)]
        for name, make, model in order if i % 2 == 0 else order[::-1]:
            builds[name].append(time_build(make, 3))
            steps[name].append(time_train(model, x, y, args.steps))

    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"resnet18_cifar, {n_zoo:,} parameters, batch {args.batch} of 3x32x32, {args.repeats} repeats")
    print("hand/zoo: 1.00 means zoo is exactly as fast; 'best' compares the fastest repeat of each,")
    print("the figure least disturbed by other work on the machine")
    print(f"{'':16}{'zoo':>9}{'by hand':>9}{'hand/zoo':>10}{'best':>7}")
    for what, runs in (("build (ms)", builds), ("train step (ms)", steps)):
        z, h = statistics.median(runs["zoo"]) * 1e3, statistics.median(runs["hand"]) * 1e3
        best = min(runs["hand"]) / min(runs["zoo"])
        print(f"{what:16}{z:9.1f}{h:9.1f}{h / z:10.2f}{best:7.2f}")

if __name__ == "__main__":
    main()
