"""Project structure: dependencies point one way, imports sit at module top (except the heavy
libraries and the study a command runs, imported where they are used so that `import lstmbt`
and `lstmbt --help` start fast), the domain folders install only as
lstmbt.features/models/strategies, and the code passes ruff."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ("features", "models", "strategies")
# the application's layers, lowest first: a module imports only from its own layer or below,
# and inside one layer only within its own sub-package (checked for cycles too)
APP_LAYERS = [
    {"errors", "progress", "_runtime", "features", "models", "strategies"},
    {"data"},
    {"config"},
    {"findings"},
    {"metrics"},
    {"runs"},
    {"report"},
    {"results"},
    {"study"},
    {"api", "judge"},
    {"forecast"},
    {"cli"},
    {"__init__", "__main__"},
]
# third-party libraries slow to import (0.1-2.5 s each), imported inside the functions that use
# them: `import lstmbt`, `lstmbt --help` and `lstmbt runs` load none of them
# (tests/test_imports.py)
DEFERRED = {
    "torch",
    "scipy",
    "quantstats",
    "matplotlib",
    "backtrader",
    "arch",
    "statsmodels",
    "lightgbm",
    "ray",
    "yfinance",
    "ta",
}
# lstmbt modules imported inside functions: a command imports the code it runs when it runs
DEFERRED_APP = {"lstmbt.cli.main": {"lstmbt.api", "lstmbt.judge", "lstmbt.forecast"}}


def _type_checking(node: ast.stmt) -> bool:
    """`if TYPE_CHECKING:` (the names a lazy package exports, for type checkers and docs)."""
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module top?) for every absolute import in a file; the imports of a
    top-level `if TYPE_CHECKING:` block count as at the top (they declare a dependency)."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    top |= {id(n) for node in tree.body if _type_checking(node) for n in node.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lstmbt":  # from lstmbt import runs -> lstmbt.runs
                out += [(f"lstmbt.{a.name}", id(node) in top) for a in node.names]
            else:
                out.append((node.module, id(node) in top))
    return out


def deferred_import_allowed(name: str, module: str) -> bool:
    """May module `name` import `module` inside a function?"""
    return module.split(".")[0] in DEFERRED or module in DEFERRED_APP.get(name, ())


def module_name(path: Path) -> str:
    """The installed name of a source file: lstmbt/x.py -> lstmbt.x, models/y.py ->
    lstmbt.models.y, a package's __init__.py -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts if parts[0] == "lstmbt" else ("lstmbt", *parts))


def source_files() -> list[Path]:
    return [p for folder in ("lstmbt", *DOMAIN) for p in sorted((ROOT / folder).rglob("*.py"))]


def app_modules() -> dict[str, Path]:
    """lstmbt.* module name -> file, for the application package (not the domain folders)."""
    mods = {}
    for path in (ROOT / "lstmbt").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def unit(module: str) -> str:
    """The layer unit of an lstmbt module: its sub-package or top-level module name."""
    parts = module.split(".")
    if parts[-1] == "__main__" and len(parts) == 2:
        return "__main__"
    return "__init__" if len(parts) == 1 else parts[1]


def layer(module: str) -> int:
    u = unit(module)
    return next(i for i, names in enumerate(APP_LAYERS) if u in names)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in a directed graph as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("folder", DOMAIN)
def test_domain_folders_import_neither_the_app_nor_each_other(folder):
    for path in (ROOT / folder).rglob("*.py"):
        for module, _ in imports(path):
            root = module.split(".")
            if root[0] == "lstmbt":
                assert root[:2] == ["lstmbt", folder], f"{path.relative_to(ROOT)} imports {module}"


@pytest.mark.slow
def test_no_bare_domain_imports_anywhere():
    """`import models` would load a second copy of a module under another name (two classes)."""
    for path in ROOT.rglob("*.py"):
        inside = path.relative_to(ROOT).parts
        # the project's own files: not a virtual environment, a build or a cache inside the
        # checkout (a `.venv` here holds torch's own tests, in syntax newer than ours)
        if any(p.startswith(".") or p in {"build", "venv", "site-packages"} for p in inside):
            continue
        bad = [m for m, _ in imports(path) if m.split(".")[0] in DOMAIN]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}: use lstmbt.{bad[0]}"


def test_application_imports_point_down_and_have_no_cycle():
    """Deferred imports (a command's study) and TYPE_CHECKING ones (lazy re-exports) count."""
    mods = app_modules()
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        for module, _ in imports(path):
            if not module.startswith("lstmbt") or unit(module) in DOMAIN:
                continue
            target = module if module in mods else module.rsplit(".", 1)[0]
            assert layer(target) <= layer(name), (
                f"{name} (layer {unit(name)}) imports {target} (layer {unit(target)}), which "
                "sits above it"
            )
            if layer(target) == layer(name) and unit(target) != unit(name):
                pytest.fail(f"{name} imports {target}, another unit of its own layer")
            graph[name].add(target)
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"
    units = {unit(n): set() for n in mods}
    for name, targets in graph.items():
        units[unit(name)] |= {unit(t) for t in targets if unit(t) != unit(name)}
    cycle = find_cycle(units)
    assert cycle is None, f"cycle between sub-packages: {' -> '.join(cycle)}"


def test_imports_sit_at_module_top_but_the_heavy_ones():
    """Every import at module top, except a heavy library (DEFERRED) or the study a command
    runs (DEFERRED_APP), which wait for the function that needs them."""
    for path in source_files():
        name = module_name(path)
        for module, at_top in imports(path):
            assert at_top or deferred_import_allowed(name, module), (
                f"{path.relative_to(ROOT)} imports {module} inside a function: import it at "
                "module top (only tests/test_layout.py's DEFERRED libraries may wait)"
            )


@pytest.mark.slow
def test_import_works_beside_a_users_own_models_features_and_strategies(tmp_path):
    for name in DOMAIN:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user\\'s own')\n")
    code = (
        "import importlib.util, lstmbt\n"
        "from lstmbt import RunConfig, run_study\n"
        "from lstmbt.models import LSTMForecaster\n"
        "import lstmbt.features, lstmbt.strategies\n"
        "assert lstmbt.models.__file__.startswith(str(__import__('pathlib').Path(lstmbt.__file__)"
        ".parents[1])), lstmbt.models.__file__\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_no_top_level_domain_package_is_installed(tmp_path):
    code = (
        "import importlib.util\n"
        "found = [n for n in ('features', 'models', 'strategies') if importlib.util.find_spec(n)]\n"
        "print(found)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


@pytest.mark.skipif(
    shutil.which("ruff") is None, reason="ruff not installed (pip install -e .[dev])"
)
def test_ruff_is_clean():
    proc = subprocess.run(["ruff", "check", str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
