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


def import_graph() -> dict[str, set[str]]:
    """zoo's modules and the zoo modules each imports, at module level or inside a
    function alike (an ``if TYPE_CHECKING:`` block imports nothing at run time)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "src"
    files = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (root / "zoo").rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}

    def walk(node, name, package):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                continue
            targets = []
            if isinstance(child, ast.ImportFrom):
                base = ".".join(package[: len(package) - child.level + 1] + ([child.module] if child.module else [])) \
                    if child.level else child.module or ""
                # `from . import kinds` imports the module zoo.kinds; `from .errors import X` zoo.errors
                modules = [f"{base}.{alias.name}" for alias in child.names if f"{base}.{alias.name}" in files]
                targets = modules if len(modules) == len(child.names) else [*modules, base]
            elif isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
            walk(child, name, package)

    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        walk(ast.parse(path.read_text()), name, package)
    return graph


def test_no_import_cycles_between_modules_even_through_function_level_imports():
    """Data flows one way (text -> tree -> modules -> reports): no module imports,
    directly or through others, a module that imports it back."""
    graph = import_graph()
    assert {"zoo.registry.registry", "zoo.options", "zoo.registry.specs", "zoo.cnn", "zoo.monitor.stats"} <= set(graph)
    assert "zoo.registry.specs" in graph["zoo.registry.registry"] and "zoo.registry.registry" in graph["zoo.options"]
    state: dict[str, int] = {}
    cycles = []

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
