"""How fast `zoo tokens` and `zoo plugins` answer, against a bare Python start.

    python bench/bench_listing.py [--repeats 9]

Each command runs as a fresh process (what a user waits for), interleaved with the
baseline `python -c pass` so that the machine's noise hits all alike. Reports the
median wall time of each and its ratio to the baseline, and checks that none of the
listing commands imported torch (the plugins installed here, zoo-extra included,
are loaded: the registry reads their metadata only).
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
    "sys.argv = ['zoo', {args}]\n"
    "try:\n"
    "    runpy.run_module('zoo', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "assert 'torch' not in sys.modules, 'a listing imported torch'\n"
)

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "python -c 'import zoo'": [sys.executable, "-c", "import zoo"],
    "zoo tokens": [sys.executable, "-m", "zoo", "tokens"],
    "zoo tokens --json": [sys.executable, "-m", "zoo", "tokens", "--json"],
    "zoo plugins": [sys.executable, "-m", "zoo", "plugins"],
    "zoo plugins --json": [sys.executable, "-m", "zoo", "plugins", "--json"],
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
    env["COLUMNS"] = "100"

    for listing in (["tokens"], ["tokens", "--json"], ["plugins"], ["plugins", "--json"]):
        code = PROBE.format(args=", ".join(repr(a) for a in listing))
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, env=env)

    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the file cache
        timed(command, env)
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            times[name].append(timed(command, env))

    from zoo.registry import get_registry

    plugins = ", ".join(f"{p.name} {p.version}" for p in get_registry().plugins.values())
    base = statistics.median(times["python -c pass (baseline)"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()}; plugins: {plugins}")
    print(f"median of {args.repeats} fresh processes each; torch imported by no listing\n")
    print(f"{'command':40} {'ms':>8} {'x baseline':>11}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40} {median * 1000:8.0f} {median / base:11.1f}")


if __name__ == "__main__":
    main()
