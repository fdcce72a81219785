"""The repository's promises: CI runs exactly the README's test command."""

from pathlib import Path

import pytest

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


def test_the_distribution_is_zoo_cnn_everywhere_a_user_installs_it():
    """"zoo" on PyPI is an unrelated RPC framework: users install zoo-cnn, import zoo."""
    from importlib.metadata import distribution

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "zoo-cnn" and project["scripts"] == {"zoo": "zoo.cli:entry"}
    extra = tomllib.loads((ROOT / "plugins" / "zoo-extra" / "pyproject.toml").read_text())["project"]
    assert extra["dependencies"] == ["zoo-cnn>=0.1"]
    assert 'dependencies = ["zoo-cnn"]' in (ROOT / "CONTRIBUTING.md").read_text()
    installed = distribution("zoo-cnn")
    assert installed.metadata["Name"] == "zoo-cnn"
    assert any(str(f).startswith("zoo") for f in installed.files or []) or installed.read_text("direct_url.json")


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.slow
def test_the_readmes_python_examples_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they write runs/ and block_plot.png
    blocks = readme_python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "block_plot.png").stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / "runs" / "blocks").iterdir()) == ["blocks_000050.png", "blocks_000100.png"]
