"""Test-suite settings: slow tests run in CI, and on demand.

A test marked ``@pytest.mark.slow`` (a real training run, an export of every preset,
a two-process torchrun) is skipped in the default ``python -m pytest -q``, which must
stay within about three minutes on a 2-core machine. It runs when the environment
variable ``CI`` is set to anything but ``""``/``0``/``false`` (the CI runner sets
``CI=true``), or with ``--run-slow``.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the tests marked slow")


def run_slow(config) -> bool:
    return config.getoption("--run-slow") or os.environ.get("CI", "").lower() not in ("", "0", "false")


def pytest_collection_modifyitems(config, items):
    if run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow: runs in CI (CI=true) or with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
