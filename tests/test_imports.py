"""A fast start: `import lstmbt`, `lstmbt --help` and `lstmbt runs` load none of the heavy
libraries (torch, scipy, quantstats, matplotlib, backtrader...); the study loads them when it
runs. Checked by the modules a fresh interpreter holds afterwards, not by a timing (the times
are in benchmarks/README.md)."""

from __future__ import annotations

import ast
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lstmbt.config import RunConfig
from tests.conftest import TINY

# 0.1-2.5 s each to import (benchmarks/README.md); `ta` is not here: it costs ~2 ms and loads
# nothing but pandas, and the feature groups a config checks are defined with it
HEAVY = {
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
    "seaborn",
    "sklearn",
}
LAZY_PACKAGES = ("lstmbt", "lstmbt.features", "lstmbt.models", "lstmbt.strategies")

# runs `code` in a fresh interpreter; `loaded()` is the heavy libraries imported so far
PROBE = """
import json, sys
HEAVY = set(json.loads(sys.argv[1]))
def loaded():
    return sorted({{name.split(".")[0] for name in sys.modules}} & HEAVY)
{code}
print(json.dumps(loaded()))
"""


def probe(code: str, cwd: Path, *args: str) -> tuple[object, str]:
    """(what the probe's last line says, everything it printed before) for `code`."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code), json.dumps(sorted(HEAVY)), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    *before, last = proc.stdout.strip().splitlines()
    return json.loads(last), "\n".join(before)


def test_import_lstmbt_loads_no_heavy_library(tmp_path):
    code = (
        "import lstmbt\n"
        "assert lstmbt.RunConfig and lstmbt.PRESETS and lstmbt.ConfigError\n"
        "from lstmbt.models import BUILTIN, TRAINED, Split, model_label, resolve_device\n"
        "assert 'lstm' in TRAINED and 'ridge' in BUILTIN\n"
        "from lstmbt.features import GROUPS\n"
        "from lstmbt.strategies import Costs\n"
    )
    assert probe(code, tmp_path)[0] == []


@pytest.mark.slow
def test_the_study_still_loads_what_it_needs(tmp_path):
    """The probe sees imports: the names that need torch and scipy load them when used."""
    heavy, _ = probe("from lstmbt import run_study\n", tmp_path)
    assert {"torch", "scipy", "matplotlib", "backtrader"} <= set(heavy)
    assert "torch" in probe("from lstmbt.models import LSTMForecaster\n", tmp_path)[0]
    assert "backtrader" in probe("from lstmbt.strategies import run_backtrader\n", tmp_path)[0]


def test_help_and_presets_load_no_heavy_library(tmp_path):
    """`lstmbt --help`, each command's --help (its options come from lstmbt.config) and
    `lstmbt presets`, in one process; the first command that loads a heavy library is named."""
    code = (
        "import contextlib, io\n"
        "from lstmbt.cli import main\n"
        "seen = {}\n"
        "for args in (['--help'], ['run', '--help'], ['study', '--help'], ['judge', '--help'],\n"
        "             ['resume', '--help'], ['forecast', '--help'], ['report', '--help'],\n"
        "             ['runs', '--help'], ['presets']):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        assert main(args) == 0, args\n"
        "    assert 'Usage' in out.getvalue() or 'Presets' in out.getvalue(), args\n"
        "    seen[' '.join(args)] = loaded()\n"
        "print(json.dumps(seen))\n"
    )
    _, printed = probe(code, tmp_path)
    seen = json.loads(printed.splitlines()[-1])
    assert all(heavy == [] for heavy in seen.values()), seen


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory):
    """A complete run, an interrupted copy of it and a run stopped before its config."""
    from lstmbt import run_study
    from lstmbt.runs import write_status

    out = tmp_path_factory.mktemp("runs")
    config = RunConfig(
        **TINY, presets=("baseline",), out=str(out), run_id="done", bootstrap_reps=100
    )
    done = run_study(config, write=True).run_dir
    shutil.copytree(done, out / "cut")
    write_status(out / "cut", "interrupted")
    (out / "early").mkdir()
    (out / "early" / "run.json").write_text('{"status": "running"}')
    return out


@pytest.mark.slow
def test_runs_loads_no_heavy_library(runs_folder, tmp_path):
    code = "from lstmbt.cli import main\nassert main(['runs', '--out', sys.argv[2]]) == 0\n"
    heavy, listing = probe(code, tmp_path, str(runs_folder))
    for word in ("done", "complete", "cut", "interrupted", "early"):
        assert word in listing  # the listing read every run
    assert heavy == []


def _type_checking_imports(package: str) -> dict[str, str]:
    """name -> module of the `if TYPE_CHECKING:` imports in a package's __init__."""
    tree = ast.parse(Path(importlib.import_module(package).__file__).read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                found |= {alias.name: imp.module for alias in imp.names}
    return found


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_exports_are_complete_and_resolve(package):
    """__all__, the lazy table and the TYPE_CHECKING imports (which type checkers and the API
    docs read) name the same objects, and each name is the object its module defines."""
    pkg = importlib.import_module(package)
    public = set(pkg.__all__) - {"__version__"}
    assert set(pkg._MODULE_OF) == public
    assert _type_checking_imports(package) == pkg._MODULE_OF
    for name in sorted(public):
        assert getattr(pkg, name) is getattr(importlib.import_module(pkg._MODULE_OF[name]), name)
    assert set(pkg.__all__) <= set(dir(pkg))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pkg.nope  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package} import nope", {})


def test_the_registry_names_each_builtin_class_by_its_kind():
    """BUILTIN's `module:Class` strings (imported on look-up) are the classes of those kinds."""
    from lstmbt.models import BUILTIN, TRAINED, model_type

    assert set(TRAINED) < set(BUILTIN)
    for name in BUILTIN:
        cls = BUILTIN[name]
        assert BUILTIN.paths[name].startswith("lstmbt.models.")
        assert cls.kind == name and model_type(cls) == name
        assert TRAINED.get(name, cls) is cls
    with pytest.raises(KeyError):
        BUILTIN["nope"]
