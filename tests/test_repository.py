"""The repository's promises: CI runs exactly the README's test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_the_run_and_the_test_commands():
    run, test = readme_commands()[:2]
    assert run.endswith("zoo inspect resnet18_cifar")
    assert test.endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command_word_for_word():
    test = readme_commands()[1]
    install_and_test = test.split(" && ", 2)[2]  # after making and activating the venv
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci
    # a fresh venv as a new user makes it: no system site packages to hide what users get
    assert "python3 -m venv .venv" in ci
    assert not any("system-site-packages" in line for line in ci if not line.lstrip().startswith("#"))
