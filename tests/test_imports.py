"""Start-up cost: `import zoo` and the listing commands stay light."""

import json
import subprocess
import sys

HEAVY = ("torch", "timm", "torchvision", "matplotlib")


def imported_after(code: str) -> dict[str, bool]:
    probe = f"{code}\nimport sys, json; print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_zoo_imports_no_heavy_module():
    assert imported_after("import zoo") == dict.fromkeys(HEAVY, False)


def test_torch_loads_on_first_use_of_a_torch_name():
    assert imported_after("import zoo; zoo.CNN") == {"torch": True, "timm": False, "torchvision": False,
                                                     "matplotlib": False}


def test_zoo_help_does_not_import_torch():
    code = "import sys\nfrom zoo.cli import main\nsys.argv = ['zoo', '--help']\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert imported_after(code) == dict.fromkeys(HEAVY, False)


def test_zoo_help_runs_as_a_command():
    out = subprocess.run([sys.executable, "-m", "zoo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("usage: zoo")
    assert "tokens" in out.stdout


def test_bad_arguments_exit_with_2():
    out = subprocess.run([sys.executable, "-m", "zoo", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice: 'no-such-command'" in out.stderr
