"""timm's own model tests (``tests/test_models.py`` of the installed timm) on every zoo model.

timm ships its tests in its source distribution, not in the wheel: the test fetches
the sdist of the installed version with pip (once, into ``~/.cache/zoo/timm-tests``, or
``$ZOO_TIMM_TESTS``), takes ``tests/test_models.py`` from it, and runs it in a
subprocess with the plugin ``tests/fixtures/zoo_timm_suite.py`` (zoo's models only, the
excused cases skipped with their reasons). By hand:

    python -m pytest -q tests/test_timm_models.py --run-slow
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

timm = pytest.importorskip("timm")

FIXTURES = Path(__file__).parent / "fixtures"


def timm_tests_dir() -> Path:
    """A folder with timm's ``test_models.py`` (and its LICENSE) for the installed version."""
    root = Path(os.environ.get("ZOO_TIMM_TESTS") or Path.home() / ".cache" / "zoo" / "timm-tests")
    folder = root / timm.__version__
    if (folder / "test_models.py").is_file():
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
             f"timm=={timm.__version__}", "-d", tmp],
            capture_output=True, text=True, timeout=300,
        )
        archives = list(Path(tmp).glob("timm-*.tar.gz"))
        if got.returncode or not archives:
            pytest.skip(f"timm's tests come in its source distribution, which pip could not fetch "
                        f"(offline?): {(got.stderr or got.stdout).strip().splitlines()[-1:]}")
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archives[0]) as sdist:
            for member in sdist.getmembers():
                parts = member.name.split("/")
                if member.isfile() and parts[1:] in (["tests", "test_models.py"], ["LICENSE"]):
                    target = folder / parts[-1]
                    target.write_bytes(sdist.extractfile(member).read())
    (folder / "pytest.ini").write_text("[pytest]\n")  # not zoo's settings: timm's file as timm runs it
    return folder


def run_timm_tests(folder: Path, tmp_path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Run timm's file with zoo's plugin; {(test, parameters): (outcome, message)}."""
    report = tmp_path / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    # timm's switch for its own CI (fewer, smaller timm models; no FX -> TorchScript tests):
    # zoo's models are small, and every test must run on them
    env.pop("GITHUB_ACTIONS", None)
    subprocess.run(
        [sys.executable, "-m", "pytest", "test_models.py", "-p", "zoo_timm_suite", "-p", "no:cacheprovider",
         "-q", "-W", "ignore::pytest.PytestUnknownMarkWarning", f"--junitxml={report}"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=3000,
    )
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name, _, params = case.get("name").partition("[")
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome, message = kind, (found.get("message") or "")[:300]
        results[(name, params.rstrip("]"))] = (outcome, message)
    return results


@pytest.mark.slow
def test_timm_model_tests_pass_on_every_zoo_model(tmp_path):
    sys.path.insert(0, str(FIXTURES))
    try:
        import zoo_timm_suite
    finally:
        sys.path.remove(str(FIXTURES))
    import zoo

    models = zoo.register_timm()
    results = run_timm_tests(timm_tests_dir(), tmp_path)
    failed = {key: value for key, value in results.items() if value[0] in ("failure", "error")}
    assert not failed
    skipped = {key: message for key, (outcome, message) in results.items() if outcome == "skipped"}
    for (test, params), message in skipped.items():
        model = next(part for part in params.split("-") if part.startswith("zoo_")).partition(".")[0]
        if test in zoo_timm_suite.DOWNLOAD_TESTS:
            assert message == zoo_timm_suite.DOWNLOAD_SKIP
            continue
        assert message == f"excused: {zoo_timm_suite.EXCUSED[(test, model)]}", (test, params)
    # every zoo model ran the tests that timm runs on every model, and the CNN tests
    ran = {(test, next(p for p in params.split("-") if p.startswith("zoo_"))) for test, params in results}
    for test in ("test_model_forward", "test_model_backward", "test_model_default_cfgs",
                 "test_model_forward_torchscript", "test_model_forward_features", "test_model_forward_fx",
                 "test_model_backward_fx", "test_model_forward_fx_torchscript",
                 "test_model_forward_intermediates", "test_model_forward_intermediates_features",
                 "test_prune_intermediate_layers_contract", *zoo_timm_suite.FIXED_LIST_TESTS):
        assert {model for name, model in ran if name == test} == set(models), test
    excused = {key for key in skipped if key[0] not in zoo_timm_suite.DOWNLOAD_TESTS}
    assert len(excused) == len(zoo_timm_suite.EXCUSED)
