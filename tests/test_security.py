"""A run folder is data, never code: a folder someone sends you (a course hand-in, a colleague's
result) cannot make `lstmbt forecast`, `resume`, `report`, `runs` or `judge` import, unpickle
or execute anything, nor write outside it, and a finished run holds no pickle.

Each malicious folder carries a payload that would create a marker file if anything ran it:
model.json naming `subprocess:Popen` or `os:system` with arguments, a pickled model state, a
torch file (the weights' old format) and .npy/.npz arrays holding pickles, and path traversal
(`../../x`) in the preset, model and setting names of config.json and model.json.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmbt import RunConfig, run_study
from lstmbt.cli import main
from tests.conftest import TINY

USER = "tests.user_models:RichState"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run with an LSTM, LightGBM and a user's class whose fitted state holds text,
    lists, dicts and tuples (what ForecasterBase once pickled)."""
    out = tmp_path_factory.mktemp("finished")
    config = RunConfig(
        **{**TINY, "epochs": 1, "hidden_size": 4},
        start="2014-01-01",
        bootstrap_reps=50,
        models=("lstm", "lightgbm", USER),
        out=str(out),
        run_id="run",
    )
    return run_study(config, write=True).run_dir


class Payload:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


PICKLE_FILES = (".pkl", ".pickle", ".joblib", ".dill")


@pytest.mark.slow
def test_a_finished_run_folder_holds_no_pickle(finished):
    """No pickle file and no pickled bytes: JSON, CSV, HTML and text; .npy/.npz that load with
    allow_pickle=False (the networks' weights too); LightGBM's text models. Regression: the
    networks' weights were torch's weights.pt, a zip holding data.pkl (read with
    weights_only=True, but a pickle all the same); no file is exempt now."""
    files = [p for p in finished.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".json", ".npy", ".txt", ".npz"} <= kinds, kinds  # every model's state
    assert any(p.name == "weights.npz" for p in files), "the LSTM's weights"
    for path in files:
        data = path.read_bytes()
        assert path.suffix not in (*PICKLE_FILES, ".pt", ".pth"), path
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:  # each member an .npy, none a pickle
                assert all(n.endswith(".npy") for n in archive.namelist()), path
            with np.load(path, allow_pickle=False) as arrays:
                [arrays[k] for k in arrays.files]
        elif path.suffix == ".png":
            assert data.startswith(b"\x89PNG"), path
        else:
            text = data.decode("utf-8")  # text, not a binary stream
            assert not data.startswith(b"\x80"), path
            for proto in (b"\x80\x02", b"\x80\x03", b"\x80\x04\x95", b"\x80\x05\x95"):
                assert proto not in data, path
            if path.suffix == ".json":
                json.loads(text)
    saved = json.loads((finished / "models" / "baseline" / "RichState" / "model.json").read_text())
    assert saved["model"] == "user" and saved["class"] == USER
    assert (
        "pickled" not in saved["state"]
        and (finished / "models/baseline/RichState/fitted.npz").is_file()
    )


# --- malicious folders ---------------------------------------------------------------------------
def _model_docs(run: Path, which: str = "models/baseline/model.json") -> list[Path]:
    """The LSTM's model.json in models/ and in every fold."""
    return [run / which, *(run / "folds" / "baseline").glob("seed*/fold*/model.json")]


def _rewrite(path: Path, change: Callable[[dict], dict]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def popen_fmt3(run: Path, marker: Path) -> None:
    for path in _model_docs(run):
        _rewrite(
            path,
            lambda d: {**d, "format": 3, "model": "subprocess:Popen",
                       "params": {"args": ["touch", str(marker)]}},
        )  # fmt: skip


def system_fmt4(run: Path, marker: Path) -> None:
    for path in _model_docs(run):
        _rewrite(
            path,
            lambda d: {**d, "model": "os:system", "params": {"command": f"touch {marker}"}},
        )


def user_kind_popen(run: Path, marker: Path) -> None:
    for path in _model_docs(run):
        _rewrite(
            path,
            lambda d: {**d, "model": "user", "class": "subprocess:Popen",
                       "params": {"args": ["touch", str(marker)]}},
        )  # fmt: skip


def config_names_popen(run: Path, marker: Path) -> None:
    def change(doc):
        doc["config"]["models"] = [*doc["config"]["models"], "subprocess:Popen"]
        return doc

    _rewrite(run / "config.json", change)


EVIL = "evil_model"  # a module shipped inside the run folder: importing it touches the marker


def _evil_module(run: Path, marker: Path) -> None:
    (run / f"{EVIL}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom tests.user_models import MyForecaster as Evil\n"
    )


def config_names_module_in_folder(run: Path, marker: Path) -> None:
    """config.json names a class from a module the folder ships (the CLI finds modules in the
    current folder, and the user runs lstmbt from inside the folder)."""
    _evil_module(run, marker)

    def change(doc):
        doc["config"]["models"] = [*doc["config"]["models"], f"{EVIL}:Evil"]
        return doc

    _rewrite(run / "config.json", change)


def model_names_module_in_folder(run: Path, marker: Path) -> None:
    _evil_module(run, marker)
    for path in _model_docs(run):
        _rewrite(path, lambda d: {**d, "model": "user", "class": f"{EVIL}:Evil"})
    for path in _model_docs(run, "models/baseline/RichState/model.json"):
        _rewrite(path, lambda d: {**d, "format": 3, "model": f"{EVIL}:Evil"})


def pickled_state(run: Path, marker: Path) -> None:
    """A built-in baseline's state as a pickle (what lstmbt once wrote and read)."""
    (run / "models" / "baseline" / "state.pkl").write_bytes(pickle.dumps(Payload(marker)))
    _rewrite(
        run / "models" / "baseline" / "model.json",
        lambda d: {**d, "model": "ridge", "params": {}, "state": {"pickled": "state.pkl"}},
    )


def torch_payload(run: Path, marker: Path) -> None:
    """The LSTM's weights as torch's weights.pt (what lstmbt once wrote) holding a payload, in
    models/ and in every fold."""
    for path in [run / "models" / "baseline" / "weights.npz", *_fold_weights(run)]:
        path.unlink()
        torch.save({"w": Payload(marker)}, path.with_suffix(".pt"))


def _fold_weights(run: Path) -> list[Path]:
    return sorted((run / "folds" / "baseline").glob("seed*/fold*/weights.npz"))


def weights_npz_payload(run: Path, marker: Path) -> None:
    path = run / "models" / "baseline" / "weights.npz"
    np.savez(path, **{"lstm.weight": np.array([Payload(marker)], dtype=object)})


def npz_payload(run: Path, marker: Path) -> None:
    path = run / "models" / "baseline" / "RichState" / "fitted.npz"
    np.savez(path, a0=np.array([Payload(marker)], dtype=object))


def npy_payload(run: Path, marker: Path) -> None:
    for path in (run / "folds").rglob("predictions.npy"):
        np.save(path, np.array([Payload(marker)], dtype=object), allow_pickle=True)


def traversal_preset(run: Path, marker: Path) -> None:
    def change(doc):
        doc["config"]["presets"] = ["../../x"]
        doc["config"]["preset_options"] = {"../../x": {"lookback": 1}}
        return doc

    _rewrite(run / "config.json", change)


def traversal_model(run: Path, marker: Path) -> None:
    def change(doc):
        doc["config"]["models"] = ["lstm", "os.path:../../x"]
        return doc

    _rewrite(run / "config.json", change)


def traversal_setting(run: Path, marker: Path) -> None:
    def change(doc):
        doc["config"]["model_options"] = {"../../x": {"alpha": 1}}
        return doc

    _rewrite(run / "config.json", change)


def traversal_meta(run: Path, marker: Path) -> None:
    def change(doc):
        doc["meta"]["preset"]["name"] = "../../x"
        doc["meta"]["ticker"] = "../../x"
        return doc

    for path in _model_docs(run):
        _rewrite(path, change)


NAMED = ["--models", USER]  # the user names their own class: the payload must still not run
JUDGE = ["--bootstrap-reps", "30", "--no-tearsheets"]
# variant -> command -> (expected exit code, words of the one error line; None: runs cleanly)
CASES = {
    popen_fmt3: {
        "forecast": (
            2,
            "holds a model of the class 'subprocess:Popen'; lstmbt imports a class "
            "only when you name it for this run",
        ),
        "resume": (0, None),  # those folds are unusable: trained again, with a note
        "report": (0, None),
    },
    system_fmt4: {
        "forecast": (2, "names the model kind 'os:system', which is not a built-in forecaster"),
    },
    user_kind_popen: {"forecast": (2, "holds a model of the class 'subprocess:Popen'")},
    config_names_popen: {
        "forecast": (
            2,
            "the run used your class 'subprocess:Popen'; lstmbt imports a class only "
            "when you name it, never because a run folder says so: lstmbt forecast",
        ),
        "resume": (2, "the run used your class 'subprocess:Popen'"),
        "report": (0, None),
        "runs": (0, None),
        "judge": (0, None),
    },
    config_names_module_in_folder: {
        "forecast": (2, f"the run used your class '{EVIL}:Evil'"),
        "resume": (2, f"the run used your class '{EVIL}:Evil'"),
        "report": (0, None),
        "runs": (0, None),
        "judge": (0, None),
    },
    model_names_module_in_folder: {
        "forecast": (2, f"holds a model of the class '{EVIL}:Evil'"),
        "resume": (0, None),  # those folds are unusable: trained again, with a note
    },
    pickled_state: {
        "forecast": (
            2,
            "holds a pickled model state (written by an older lstmbt); lstmbt no "
            "longer unpickles files from run folders",
        ),
    },
    torch_payload: {
        "forecast": (
            2,
            "weights.pt' is a torch file written by an older lstmbt (it holds a pickle, and "
            "lstmbt no longer unpickles files from run folders); re-run the study to refit it.",
        ),
        "resume": (0, None),  # those folds are unusable: trained again, with a note
    },
    weights_npz_payload: {
        "forecast": (2, "Object arrays cannot be loaded when allow_pickle=False"),
    },
    npz_payload: {"forecast": (2, "Object arrays cannot be loaded when allow_pickle=False")},
    npy_payload: {"resume": (0, None), "report": (0, None)},
    traversal_preset: {
        "forecast": (2, "unknown preset '../../x'"),
        "resume": (2, "unknown preset '../../x'"),
        "judge": (2, "unknown preset '../../x'"),
        "runs": (0, None),
    },
    traversal_model: {
        "forecast": (2, "model 'os.path:../../x': write package.module:ClassName"),
        "resume": (2, "write package.module:ClassName"),
        "judge": (2, "write package.module:ClassName"),
    },
    traversal_setting: {
        "forecast": (2, "settings for model '../../x', which is not among the chosen models"),
        "resume": (2, "settings for model '../../x'"),
    },
    traversal_meta: {"forecast": (0, None)},
}


def _sign_again(run: Path) -> None:
    """Whoever edits a run folder can rewrite its fingerprints.json files too: fingerprints
    catch accidental edits, they are no defence against code. So the tampered folder is signed
    again, and what is tested is that nothing below the fingerprint check runs code."""
    from lstmbt import runs

    try:
        doc = json.loads((run / "config.json").read_text())
        runs.record_settings(run, doc["config"])
    except (ValueError, KeyError, TypeError):
        pass  # a config.json the variant broke on purpose: left for the readers to refuse
    runs.record_results(run)
    for record in run.glob("folds/**/" + runs.FINGERPRINTS):
        preds = record.parent / "predictions.npy"
        written = {"predictions.npy": preds.read_bytes()} if preds.is_file() else {}
        record.write_text(runs.folder_fingerprints(record.parent, written))


def _command(name: str, run: Path, tmp: Path) -> list[str]:
    return {
        "forecast": ["forecast", str(run), *NAMED],
        "resume": ["resume", str(run), *NAMED],
        "report": ["report", str(run), "--no-tearsheets"],
        "runs": ["runs", "--out", str(run.parent)],
        "judge": ["judge", str(run / "predictions.csv"), *JUDGE, "--out", str(tmp / "judged")],
    }[name]


@pytest.mark.parametrize(
    ("variant", "command"),
    [(v, c) for v, commands in CASES.items() for c in commands],
    ids=[f"{v.__name__}-{c}" for v, commands in CASES.items() for c in commands],
)
@pytest.mark.slow
def test_a_malicious_run_folder_runs_nothing(
    finished, tmp_path, capsys, monkeypatch, variant, command
):
    base = tmp_path / "deep" / "er"  # `../../x` from the run would land in tmp_path/deep/x
    run = base / "runs" / "run"
    shutil.copytree(finished, run)
    marker = tmp_path / "pwned"
    variant(run, marker)
    _sign_again(run)
    capsys.readouterr()
    # run from inside the folder, as a user who unpacked it would (the CLI then also finds
    # modules there); the import path and module table are put back afterwards
    monkeypatch.chdir(run)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, EVIL, raising=False)
    code = main(_command(command, run, tmp_path))
    err = capsys.readouterr().err
    assert not marker.exists(), "the run folder executed code"
    for escaped in (base / "x", base.parent / "x", base / "runs" / "x", tmp_path / "x"):
        assert not escaped.exists(), f"wrote outside the run folder: {escaped}"
    expected, says = CASES[variant][command]
    errors = [line for line in err.splitlines() if line.startswith(("error", "internal error"))]
    assert code == expected, err
    assert "Traceback" not in err
    if expected == 2:
        assert len(errors) == 1 and errors[0].startswith("error: "), err
        assert says in errors[0], errors[0]
    else:
        assert not errors, err


def test_a_user_class_is_loaded_only_when_named_again_and_must_be_the_recorded_one(
    finished, tmp_path, capsys
):
    """forecast asks for the user's class only for its rows; a class the run did not use is
    refused; the Python API takes the class itself."""
    from lstmbt.forecast import forecast_from_run
    from tests.user_models import RichState

    assert main(["forecast", str(finished), "--model", "lstm"]) == 0  # no user row: no need
    capsys.readouterr()
    assert main(["forecast", str(finished)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: the run used your class '{USER}'; lstmbt imports a class only when you name it, "
        f"never because a run folder says so: lstmbt forecast {finished} --models {USER}"
    )
    assert main(["forecast", str(finished), "--models", "tests.user_models:MyForecaster"]) == 2
    assert "the run did not use 'tests.user_models:MyForecaster'; it used lstm, lightgbm" in (
        capsys.readouterr().err
    )
    frame = forecast_from_run(finished, models=[RichState])
    assert {"baseline:lstm", "baseline:lightgbm", "baseline:RichState"} <= set(frame.columns)


def test_resume_flag_regression_naming_the_runs_own_class_again_is_no_change(
    finished, tmp_path, capsys
):
    """Regression: `lstmbt run --resume RUN --models pkg.mod:Cls` was refused as a changed
    option although `lstmbt resume RUN --models pkg.mod:Cls` works: naming a class the run
    recorded (to be loaded, never read from the folder) changes nothing. Other models still
    change the run and are refused."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    for named in (USER, f" {USER} "):
        assert main(["run", "--resume", str(run), "--models", named]) == 0
        assert "is complete and its inputs are unchanged; nothing to resume" in (
            capsys.readouterr().out
        )
    for other in ("lstm", f"lstm,{USER}", "tests.user_models:MyForecaster"):
        assert main(["run", "--resume", str(run), "--models", other]) == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith(f"error: --resume continues {run} with the options it started")
        assert "--models (the run's: ('lstm', 'lightgbm', 'tests.user_models:RichState'))" in line


def test_forecast_from_run_regression_refuses_an_edited_run_as_the_cli_does(
    finished, tmp_path, capsys, monkeypatch
):
    """Regression: forecast_from_run (the Python API) used a run edited after it was written;
    only the CLI checked the fingerprints. The check lives in forecast_from_run now: both
    refuse an edited config.json and an edited fold, with the same line; the CLI checks once."""
    import lstmbt.forecast
    from lstmbt.forecast import forecast_from_run
    from lstmbt.runs import InputChanged
    from tests.user_models import RichState

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    calls = []
    real = lstmbt.forecast.check_unchanged
    monkeypatch.setattr(
        lstmbt.forecast, "check_unchanged", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    assert main(["forecast", str(run), "--models", USER]) == 0
    assert len(calls) == 1
    fold = sorted((run / "folds" / "baseline").glob("seed*/fold*/predictions.npy"))[0]
    np.save(fold, np.load(fold) * -100)
    with pytest.raises(InputChanged) as caught:
        forecast_from_run(run, models=[RichState])
    assert str(caught.value).startswith(f"{str(fold)!r} was changed after the run saved it;")
    capsys.readouterr()
    assert main(["forecast", str(run), "--models", USER]) == 2
    assert capsys.readouterr().err.strip() == f"error: {caught.value}"
    shutil.rmtree(run)
    shutil.copytree(finished, run)
    doc = json.loads((run / "config.json").read_text())
    doc["config"]["commission"] = 0.01
    (run / "config.json").write_text(json.dumps(doc))
    with pytest.raises(InputChanged, match="config.json' was edited after the run started"):
        forecast_from_run(run, models=[RichState])
