"""How fast `zoo list` answers, against a bare Python start and `import torch`.

    python bench/bench_list.py [--repeats 9]

Each command runs as a fresh process (what a user waits for), the commands
interleaved in every round so that the machine's noise hits all alike. Reports the
median wall time of each and its ratios to `python -c pass` and to
`python -c "import torch"`, and checks first that `zoo list` did not import torch.
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

PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['zoo', 'list', {extra}]\n"
    "try:\n"
    "    runpy.run_module('zoo', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "assert 'torch' not in sys.modules, 'zoo list imported torch'\n"
    "assert 'timm' not in sys.modules, 'zoo list imported timm'\n"
)

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "zoo list": [sys.executable, "-m", "zoo", "list"],
    "zoo list --json": [sys.executable, "-m", "zoo", "list", "--json"],
    "zoo list 'resnet*'": [sys.executable, "-m", "zoo", "list", "resnet*"],
    "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
}


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

    for extra in ("", "'--json'"):
        subprocess.run([sys.executable, "-c", PROBE.format(extra=extra)], check=True,
                       stdout=subprocess.DEVNULL, env=env)

    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the file cache
        timed(command, env)
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            times[name].append(timed(command, env))

    base = statistics.median(times["python -c pass (baseline)"])
    torch_time = statistics.median(times["python -c 'import torch' (reference)"])
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; median of {args.repeats} fresh processes each")
    print(f"{'command':40} {'median':>9} {'x python':>9} {'/ torch':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1000:7.0f}ms {median / base:9.2f} {median / torch_time:9.3f}")
    print("zoo list imported neither torch nor timm")


if __name__ == "__main__":
    main()
