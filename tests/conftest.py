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


@pytest.fixture
def one_thread():
    """torch on one thread for the test (a module takes it with ``pytestmark =
    pytest.mark.usefixtures("one_thread")``): on a shared 2-core machine two OpenMP
    threads wait on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Result:
    """What ``run`` gives back: the exit code and what the command printed."""

    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err
        self.returncode, self.stdout, self.stderr = code, out, err  # subprocess's names too


@pytest.fixture
def run(monkeypatch, tmp_path, capsys, one_thread):
    """``run("train", ...)``: ``zoo ARGS`` in this process (``zoo.cli.main``), in
    ``tmp_path``, at 80 columns, on one thread; ``check`` is the exit code it must end
    with (``None``: any)."""
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")

    def call(*args: str, check: int | None = 0) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        if check is not None:
            assert code == check, out + err
        return Result(code, out, err)

    return call


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's bundled digits as zoo loads them, once for the whole run (about
    1.5 s); tests only read it."""
    from zoo.train import load_data

    return load_data("digits")


# -- the inspector never changes a model (issue 21) ------------------------------------------

_HOOK_TABLES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_state_dict_hooks",
                "_load_state_dict_pre_hooks")


def model_snapshot(model) -> dict:
    """What inspecting must leave as it was: every tensor's identity, class, device,
    dtype, flag, values and gradient; every module's class (a lazy module turns into
    its plain one when it materialises), training flag, hooks and attribute names;
    torch's global module hooks."""
    import torch
    from torch import nn

    def tensor(t):
        if t is None:
            return None
        lazy = isinstance(t, nn.parameter.UninitializedTensorMixin)
        return (id(t), type(t), t.device, t.dtype, t.requires_grad,
                None if lazy else t.detach().clone(), None if t.grad is None else t.grad.clone())

    state = {}
    for path, module in model.named_modules(remove_duplicate=False):
        tables = {name: [(k, id(h)) for k, h in getattr(module, name, {}).items()] for name in _HOOK_TABLES}
        state[f"module {path!r}"] = (id(module), type(module), module.training, sorted(vars(module)), tables)
        for kind in ("_parameters", "_buffers"):
            for key, t in getattr(module, kind, {}).items():
                state[f"{path}.{key}"] = tensor(t)
    globals_ = torch.nn.modules.module
    state["global hooks"] = [len(getattr(globals_, name, {})) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks")]
    return state


def same_snapshot(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.device == b.device and (
            a.is_meta or torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_snapshot(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_snapshot(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(autouse=True)
def inspected_models_stay_unchanged(request, monkeypatch):
    """In the inspector's tests, every model given to the inspector (``zoo.inspect``,
    ``ModelState``, the CLI) is snapshotted before and compared after, failure or not."""
    if not request.path.name.startswith(("test_inspect", "test_cli_inspect")):
        yield
        return
    from zoo.inspector import inspection

    real = inspection.inspect_target
    checked = []

    def guarded(found):
        if found.owned:  # built by zoo itself on meta, for this inspection only
            return real(found)
        before = model_snapshot(found.model)
        try:
            return real(found)
        finally:
            after = model_snapshot(found.model)
            changed = [k for k in before if k not in after or not same_snapshot(before[k], after[k])]
            changed += [k for k in after if k not in before]
            assert not changed, f"inspecting {type(found.model).__name__} changed {changed[:5]}"
            checked.append(type(found.model).__name__)

    monkeypatch.setattr(inspection, "inspect_target", guarded)
    yield checked
