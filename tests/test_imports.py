"""Start-up cost: `import zoo` and the listing commands stay light."""

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "timm", "torchvision", "matplotlib")


def imported_after(code: str) -> dict[str, bool]:
    probe = f"{code}\nimport sys, json; print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_zoo_imports_no_heavy_module():
    assert imported_after("import zoo") == dict.fromkeys(HEAVY, False)


@pytest.mark.slow  # ~4 s on an idle core
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
    """zoo's modules and the zoo modules each imports: at module level or inside a
    function alike, and what a module loads by name counts as an import too: a
    ``importlib.import_module("zoo.x")`` call, a ``"zoo.x:function"`` reference and a
    lazy table's ``"zoo.x"`` (an ``if TYPE_CHECKING:`` block imports nothing at run time)."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "src"
    files = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (root / "zoo").rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    by_name = re.compile(r"(zoo(?:\.\w+)+)(?::\w*)?")  # not "zoo" alone: the project's name

    def docstrings(tree) -> set[int]:
        found = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                found.add(id(body[0].value))
        return found

    def walk(node, name, package, skip):
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
            elif isinstance(child, ast.Constant) and isinstance(child.value, str) and id(child) not in skip:
                named = by_name.fullmatch(child.value)  # "zoo.cnn", "zoo.layers.norm:create_norm"
                if named and named[1] in files:
                    targets = [named[1]]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
            walk(child, name, package, skip)

    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        tree = ast.parse(path.read_text())
        walk(tree, name, package, docstrings(tree))
    return graph


def contributing_layers() -> list[list[str]]:
    """The layers of CONTRIBUTING's Architecture section, lowest first: each a list of
    entries (``errors``, ``registry/specs``, ``inspector/`` for a whole package)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()
    section = text.split("## Architecture", 1)[1]
    block = next(b for b in section.split("\n\n") if b.startswith("    "))  # the indented list
    layers = []
    for line in block.splitlines():
        if line[4:5].strip():  # a continued description starts further right
            names = re.split(r"\s{2,}", line[4:])[0]
            layers.append([n.strip() for n in names.split(",")])
    return layers


def layer_of(module: str, layers: list[list[str]]) -> tuple[int, str]:
    """The layer of ``zoo.x.y`` and the entry that holds it (the most specific one)."""
    path = "zoo" if module == "zoo" else module.removeprefix("zoo.").replace(".", "/")
    best = (-1, "", -1)
    for index, entries in enumerate(layers):
        for entry in entries:
            stem = entry.rstrip("/")
            if path == stem or (entry.endswith("/") and path.startswith(stem + "/")) or (
                    entry.endswith("/") and path == stem):
                if len(stem) > best[2]:
                    best = (index, entry, len(stem))
    return best[0], best[1]


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


def test_names_and_references_count_as_imports():
    """What a module loads by name is an import: the lazy tables and ``"module:function"``."""
    graph = import_graph()
    assert "zoo.cnn" in graph["zoo"] and "zoo.layers.residual" in graph["zoo.plugin"]  # the lazy tables
    assert "zoo.layers.norm" in graph["zoo.tokens.norm"]  # Norm(1, "BatchNorm2d", "zoo.layers.norm:...")


def test_every_import_goes_down_a_layer_of_contributing():
    """CONTRIBUTING's Architecture lists the layers lowest first; a module imports only
    modules of lower layers (or of its own package or module): no import goes up."""
    layers = contributing_layers()
    graph = import_graph()
    imported = set().union(*graph.values())
    faces = {m for m, targets in graph.items() if not targets and m not in imported}  # zoo.registry
    unplaced = sorted(m for m in graph if layer_of(m, layers)[0] < 0 and m not in faces)
    assert unplaced == [], "modules CONTRIBUTING's Architecture does not place"
    upward = []
    for module, targets in sorted(graph.items()):
        level, entry = layer_of(module, layers)
        for target in sorted(targets):
            their_level, their_entry = layer_of(target, layers)
            if their_entry != entry and their_level >= level:
                upward.append(f"{module} ({entry}) -> {target} ({their_entry})")
    assert upward == []


# Names that two public modules export on purpose, with the reason; nothing else may be.
SHARED_EXPORTS = {
    # a user finds it in a built model (isinstance); a plugin builds with it, importing zoo.plugin alone
    ("zoo.Residual", "zoo.plugin.Residual"),
    # the same class: Value is Param under the name a token's positional values read as
    ("zoo.plugin.Value", "zoo.registry.specs.Param"),
}


def exported_twice(modules) -> list[tuple[str, ...]]:
    """Each object that the ``__all__`` lists of ``modules`` export more than once (from
    two modules, or under two names), as its sorted ``module.name`` paths. A class, a
    function or a module is one object under any name; any other value (a number, a
    tuple) counts under its own name only, since equal small numbers are one object."""
    import types
    from collections import defaultdict

    paths: dict[object, list[str]] = defaultdict(list)
    for module in modules:
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            one_object = callable(value) or isinstance(value, types.ModuleType)
            paths[id(value) if one_object else (name, id(value))].append(f"{module.__name__}.{name}")
    return sorted(tuple(sorted(found)) for found in paths.values() if len(found) > 1)


def test_the_export_check_finds_a_name_exported_twice():
    import types

    first, second = types.ModuleType("zoo.first"), types.ModuleType("zoo.second")
    first.create = second.create = first.build = lambda: None
    first.LIMIT = second.LIMIT = [1, 2]
    first.__all__, second.__all__ = ["create", "build", "LIMIT"], ["create", "LIMIT"]
    assert exported_twice([first, second]) == [("zoo.first.LIMIT", "zoo.second.LIMIT"),
                                               ("zoo.first.build", "zoo.first.create", "zoo.second.create")]
    second.LIMIT, second.__all__ = [1, 2], ["LIMIT"]  # an equal value of its own: not the same export
    assert exported_twice([first, second]) == [("zoo.first.build", "zoo.first.create")]


def test_each_public_name_has_one_import_path():
    """``zoo`` for users, ``zoo.plugin`` for plugin authors, else the module or package
    that has it (``zoo.train.load_data``): no object in two ``__all__`` lists."""
    import importlib
    import pkgutil

    import zoo

    names = ["zoo", *(m.name for m in pkgutil.walk_packages(zoo.__path__, "zoo.") if m.name != "zoo.__main__")]
    modules = [importlib.import_module(name) for name in names]
    assert len(modules) > 80 and all(hasattr(m, "__all__") for m in (zoo, zoo.plugin))
    assert exported_twice(modules) == sorted(SHARED_EXPORTS)
