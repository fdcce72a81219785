"""How fast the listing commands answer: `zoo --help`, `zoo list`, `zoo tokens`,
`zoo plugins`, against a bare Python start and `import torch`.

    python bench/bench_listing.py [--repeats 9]

Each command runs as a fresh process (what a user waits for), all of them
interleaved in every round so that the machine's noise hits all alike. Reports the
median wall time of each and its ratios to `python -c pass` and to
`python -c "import torch"`, after checking that no listing imported torch or timm.
The installed plugins (zoo-extra here) load as they would for a user.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

LISTINGS = (["--help"], ["list"], ["list", "--json"], ["list", "resnet*"], ["tokens"], ["tokens", "--json"],
            ["plugins"], ["plugins", "--json"])

PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['zoo', {args}]\n"
    "try:\n"
    "    runpy.run_module('zoo', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = [m for m in ('torch', 'timm', 'torchvision', 'matplotlib') if m in sys.modules]\n"
    "assert not heavy, f'{{sys.argv}} imported {{heavy}}'\n"
)

BASELINE = "python -c pass (baseline)"
TORCH = "python -c 'import torch' (reference)"


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["COLUMNS"] = "120"

    commands = {BASELINE: [sys.executable, "-c", "pass"], "python -c 'import zoo'": [sys.executable, "-c", "import zoo"]}
    for listing in LISTINGS:
        subprocess.run([sys.executable, "-c", PROBE.format(args=", ".join(repr(a) for a in listing))],
                       check=True, stdout=subprocess.DEVNULL, env=env)
        commands["zoo " + " ".join(listing)] = [sys.executable, "-m", "zoo", *listing]
    commands[TORCH] = [sys.executable, "-c", "import torch"]

    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # warm the file cache
        timed(command, env)
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(timed(command, env))

    base = statistics.median(times[BASELINE])
    torch_time = statistics.median(times[TORCH])
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {args.repeats} fresh processes each; no listing imported torch or timm")
    print(f"{'command':40} {'median':>9} {'x python':>9} {'/ torch':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1000:7.0f}ms {median / base:9.2f} {median / torch_time:9.3f}")


if __name__ == "__main__":
    main()
