"""The Python API as a student uses it in a notebook: typed results, nothing written unless
asked, and no change to the caller's process (backend, rcParams, warnings, torch's seed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from lstmbt import ConfigError, RunConfig, StudyResult, run_study

CHECK = r"""
import json, os, sys, warnings
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")  # what a notebook has
import matplotlib.pyplot as plt
import torch
from lstmbt import RunConfig, run_study
from matplotlib.figure import Figure

def state():
    return {
        "backend": matplotlib.get_backend(),
        "rc": {k: repr(v) for k, v in plt.rcParams.items()},
        "filters": repr(warnings.filters),
        "seed": torch.initial_seed(),
        "rng": torch.get_rng_state().sum().item(),
        "showwarning": repr(warnings.showwarning),
    }

before = state()
config = RunConfig(start="2014-01-01", epochs=1, hidden_size=4, device="cpu", jobs=1,
                   bootstrap_reps=50, tearsheets=False)
result = run_study(config)
after_run = state()
files_after_run = sorted(os.listdir("."))
summary = result.summary()
figs = result.figures()
html = result._repr_html_()
result.write("written")
sheet = result.tearsheet("baseline:lstm", "sheet.html")
files_before_text = sorted(os.listdir("."))
sheet_text = result.tearsheet("baseline:lstm")  # no path: the HTML, nothing written
files_after_text = sorted(os.listdir("."))
after_write = state()
changed = {
    stage: sorted(k for k in before if before[k] != s[k])
    for stage, s in (("run", after_run), ("write", after_write))
}
print(json.dumps({
    "changed": changed,
    "files_after_run": files_after_run,
    "verdict": list(result.verdict),
    "summary_first": list(summary.index)[0],
    "summary_is_frame": type(summary).__name__,
    "figures": sorted(figs),
    "all_figures": all(isinstance(f, Figure) for f in figs.values()),
    "html_has_verdict": result.verdict.models[0].headline[:30] in html,
    "summary_dtypes": {c: str(t) for c, t in summary.dtypes.items()},
    "sheet_text": isinstance(sheet_text, str) and "Buy & Hold" in sheet_text,
    "nothing_written_for_text": files_before_text == files_after_text,
    "written": sorted(os.listdir("written")),
    "sheet": os.path.getsize("sheet.html"),
}))
"""


@pytest.mark.slow
def test_a_study_in_a_notebook_changes_nothing_in_the_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["changed"] == {"run": [], "write": []}, out["changed"]
    assert out["files_after_run"] == [], "write=False is the Python default: no file"
    assert out["verdict"] and out["verdict"][0].split(" — ")[0] in ("Yes", "No", "Inconclusive")
    assert " — baseline:lstm " in out["verdict"][0]
    assert out["summary_is_frame"] == "DataFrame" and out["summary_first"] == "buy_and_hold"
    assert {"equity", "drawdown", "scatter", "rolling", "lag_check"} <= set(out["figures"])
    assert out["all_figures"] and out["html_has_verdict"]
    assert {"index.html", "metrics.json", "config.json", "figures"} <= set(out["written"])
    assert out["sheet"] > 20_000
    assert out["sheet_text"] and out["nothing_written_for_text"]
    numeric = {c for c, t in out["summary_dtypes"].items() if t == "float64"}
    assert {"total_return_pct", "sharpe", "sharpe_diff_p", "breakeven_bps"} <= numeric
    assert out["summary_dtypes"]["breakeven"] in ("object", "str", "string")  # text


@pytest.mark.slow
def test_result_parts_are_typed_and_indexed_by_model(tiny):
    result = run_study(
        tiny(presets=("baseline", "lookback"), preset_options={"lookback": {"lookback": 5}})
    )
    assert isinstance(result, StudyResult) and result.run_dir is None
    m = result.metrics
    assert m.lstms == ["baseline:lstm", "lookback:lstm"]
    assert m.models.loc["lookback:ridge", "preset"] == "lookback"
    assert m.models.loc["buy_and_hold", "role"] == "benchmark"
    assert isinstance(m.strategy, pd.DataFrame) and "sharpe" in m.strategy.columns
    assert m.strategy.loc["buy_and_hold", "trades"] == 1
    # exercise (a) and (b) in one study: the baseline keeps its one-day window
    presets = {p.name: p.lookback for p in result.config.model_presets()}
    assert presets == {"baseline": 1, "lookback": 5}
    assert result.models["lookback"].lookback_ == 5 and result.models["baseline"].lookback_ == 1
    with pytest.raises(Exception, match="no strategy 'nope'"):
        result.tearsheet("nope")


@pytest.mark.slow
def test_write_refuses_a_folder_that_holds_files(tiny, tmp_path):
    result = run_study(tiny(epochs=1, hidden_size=4))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(Exception, match="not empty"):
        result.write(tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(presets="lookback,nope"), "unknown preset 'nope'"),
        (dict(epochs="3"), "--epochs must be a whole number"),
        (dict(threshold=float("nan")), "--threshold must be a number"),
        (dict(preset_options={"lookback": {"lookback": 0}}, presets="lookback"), "at least 1"),
        (dict(preset_options={"baseline": {"lookbak": 3}}), "Did you mean 'lookback'"),
        (dict(preset_options={"lookback": {"lookback": 5}}), "not among the chosen presets"),
    ],
)
def test_config_checks_types_and_values_from_python(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**kwargs).validate()


def test_presets_given_as_text_and_per_preset_settings_from_every_source(tmp_path):
    from lstmbt.config import config_from_mapping, load_config_file

    assert RunConfig(presets="lookback").validate().presets == ("lookback",)
    toml = tmp_path / "run.toml"
    toml.write_text("seeds = 2\n[presets.baseline]\n[presets.lookback]\nlookback = 60\n")
    from_file = config_from_mapping(load_config_file(toml))
    from_cli = config_from_mapping(
        {"presets": "baseline,lookback", "preset_options": ["lookback.lookback=60"]}
    )
    from_python = RunConfig(
        presets=("baseline", "lookback"), preset_options={"lookback": {"lookback": 60}}
    ).validate()
    for config in (from_file, from_cli, from_python):
        assert [(p.name, p.lookback) for p in config.model_presets()] == [
            ("baseline", 1),
            ("lookback", 60),
        ]
    # global flags still apply to every preset, a preset's own setting wins for that preset
    both = RunConfig(
        presets=("baseline", "lookback"), lookback=10, preset_options={"baseline": {"lookback": 1}}
    )
    assert [p.lookback for p in both.validate().model_presets()] == [1, 10]


# --- the API from a plain script (no `if __name__ == "__main__":`) ------------------------------
ROOT = Path(__file__).resolve().parents[1]
# the README snippet's study, made small: a short span, one epoch, a tiny network
FAST = 'start="2015-01-01", epochs=1, hidden_size=4, bootstrap_reps=50, device="cpu",'


def _readme_snippet() -> str:
    section = (ROOT / "README.md").read_text().split("## In Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readme_snippet_runs_as_a_plain_script(tmp_path):
    """Pasted into a .py file without the main guard, the snippet used to start the study again
    in every spawned training process (BrokenProcessPool); now it trains in its own process
    (results never depend on --jobs) and says in one warning how to train in parallel."""
    snippet = _readme_snippet()
    assert "run_study(" in snippet and 'if __name__ == "__main__"' not in snippet
    script = snippet.replace("RunConfig(\n", f"RunConfig(\n        {FAST}\n", 1)
    write = 'result.write("reports/mine")'
    assert FAST in script and write in script, "the README snippet changed: update this test"
    script = script.replace(write, 'result.write("reports/mine", tearsheets=False)')
    script += (
        "\nprint('VERDICT', result.verdict.models[0].name, result.verdict.models[0].answer)"
        "\nprint('COLUMNS', ','.join(result.predictions.columns))\n"
    )
    (tmp_path / "study.py").write_text(script)
    proc = subprocess.run(
        [sys.executable, "study.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BrokenProcessPool" not in proc.stderr
    assert "VERDICT baseline:lstm" in proc.stdout
    assert "lookback:lstm" in proc.stdout.split("COLUMNS", 1)[1]
    assert (tmp_path / "reports" / "mine" / "index.html").is_file()
    if (os.cpu_count() or 1) > 1:  # where a pool would have started: one warning says so
        lines = [ln for ln in proc.stderr.splitlines() if "UserWarning" in ln]
        assert len(lines) == 1, proc.stderr[-3000:]
        assert 'outside `if __name__ == "__main__":`' in lines[0] and "study.py" in lines[0]


def _main_guard_seen(tmp_path, monkeypatch, source: str, spec_name: str | None = None):
    """What `unguarded_main_call` answers inside `source` run as the main script (each call of
    `study()` in it records one answer)."""
    from lstmbt.study.mainguard import unguarded_main_call

    path = tmp_path / "script.py"
    path.write_text(source)
    main = types.ModuleType("__main__")
    main.__file__ = str(path)
    main.__spec__ = None if spec_name is None else types.SimpleNamespace(name=spec_name)
    seen: list[str | None] = []
    main.__dict__["study"] = lambda: seen.append(unguarded_main_call())
    monkeypatch.setitem(sys.modules, "__main__", main)
    exec(compile(source, str(path), "exec"), main.__dict__)
    return [None if s is None else Path(s).name for s in seen]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("study()\n", "script.py"),
        ("result = [\n    study(),\n]\n", "script.py"),
        ("def main():\n    study()\n\n\nmain()\n", "script.py"),
        ("if True:\n    study()\n", "script.py"),
        ("if __name__ == __name__:\n    study()\n", "script.py"),  # true in a worker too
        ('if __name__ == "__main__":\n    study()\n', None),
        ("if '__main__' == __name__:\n    x = 1\n    study()\n", None),
        ('def main():\n    study()\n\n\nif __name__ == "__main__":\n    main()\n', None),
        # pip's console script (`lstmbt ...`) is guarded
        (
            "import sys\nif __name__ == '__main__':\n    sys.argv[0] = 'x'\n    study()\n",
            None,
        ),
    ],
)
def test_main_guard_is_read_from_the_calling_line(tmp_path, monkeypatch, source, expected):
    assert _main_guard_seen(tmp_path, monkeypatch, source) == [expected]


def test_main_guard_only_where_spawn_runs_main_again(tmp_path, monkeypatch):
    # `python -m package` runs package/__main__.py, which spawn never runs again
    assert _main_guard_seen(tmp_path, monkeypatch, "study()\n", "pkg.__main__") == [None]
    # `python -m package.script` is run again in each worker, like a script file
    assert _main_guard_seen(tmp_path, monkeypatch, "study()\n", "pkg.script") == ["script.py"]
    # a notebook or `python -c`: a __main__ without a file is never run again
    from lstmbt.study.mainguard import unguarded_main_call

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    assert unguarded_main_call() is None


def test_summary_is_numbers_with_their_units_in_the_column_names():
    from lstmbt.results import SUMMARY
    from tests.test_verdict import make_metrics

    cells = {
        "a:lstm": {"breakeven": "crosses", "breakeven_bps": 5.3, "total_return": 0.123},
        "b:lstm": {"breakeven": "trails", "total_return": -0.05},
        "c:lstm": {"breakeven": "beyond", "breakeven_low": 3.0, "breakeven_high": 100.0},
        "d:lstm": {"breakeven": "identical"},
    }
    m = make_metrics(cells)
    empty = pd.DataFrame()
    result = StudyResult(None, m, empty, empty, empty, empty)
    frame = result.summary()
    assert list(frame.index) == ["buy_and_hold", *cells] and frame.index.name == "strategy"
    numeric = [c for c, *_ in SUMMARY]
    assert all(frame[c].dtype == "float64" for c in numeric)
    assert frame.loc["a:lstm", "total_return_pct"] == pytest.approx(12.3)
    be = frame["breakeven_bps"]
    assert be["a:lstm"] == 5.3 and be["c:lstm"] == float("inf")
    assert be[["buy_and_hold", "b:lstm", "d:lstm"]].isna().all()
    assert list(be.sort_values(ascending=False).index[:2]) == ["c:lstm", "a:lstm"]
    assert frame.loc["c:lstm", "breakeven"] == "> 100 bps"
    assert frame.loc["b:lstm", "breakeven"] == "none"
    assert frame.loc["a:lstm", "answer"] == m.verdict.answers["a:lstm"]
    # the notebook view shows the same numbers, formatted by their unit
    html = result._repr_html_()
    assert "+12.3%" in html and "> 100 bps" in html.replace("&gt;", ">")
    assert "<b>" + m.verdict.answers["a:lstm"] + "</b>" in html
