"""Forecast with a saved model, without retraining: the latest close's signal for the next open.

Rebuilds the model's features from fresh prices with the same groups, companions and lookback
as when it was trained, checks the feature list matches, and applies the run's signal rule.
A universe run forecasts each of its tickers. The run folder is read as data: a user's class
it used is loaded only when the caller names it again (`models`), never from the folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmbt.config import named_classes
from lstmbt.data import load_one
from lstmbt.errors import ConfigError, DataError
from lstmbt.features import build_features, make_windows
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.metrics import sized_name
from lstmbt.models import load_forecaster
from lstmbt.models.registry import is_dotted_path
from lstmbt.runs import check_unchanged, read_config, read_config_doc, read_metrics
from lstmbt.strategies import forecast_positions
from lstmbt.study.folds import model_dir
from lstmbt.study.forecasters import forecaster_name
from lstmbt.study.inputs import companion_label, companion_source
from lstmbt.study.sizing import known_volatility, sized_weights


def _seed_models(run_dir: Path, folder: str, classes: dict[str, type]) -> list:
    """The latest fold's model of every seed (what the run's ensemble row averages)."""
    root = run_dir / "folds" / folder  # also holds other models' folders (<preset>/<model>)
    seeds = sorted(p for p in root.glob("seed*") if re.fullmatch(r"seed\d+", p.name))
    models = []
    for seed_dir in seeds:
        folds = sorted(seed_dir.glob("fold*"))
        if folds and (folds[-1] / "model.json").is_file():
            models.append(_load(folds[-1], classes)[0])
    return models


def _load(folder: Path, classes: dict[str, type]) -> tuple:
    """A saved model; a folder it cannot read is the user's to fix (re-run), not a crash."""
    try:
        return load_forecaster(folder, user_classes=classes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def forecast_from_run(
    run_dir: str | Path,
    preset: str | None = None,
    *,
    source: str | None = None,
    end: str | None = None,
    days: int = 1,
    model: str | None = None,
    models: Any = None,
) -> pd.DataFrame:
    """Forecasts of the run's saved model(s) for the last `days` closes up to `end`.

    Columns: per preset and model, its forecast (`<preset>:<model>`, next-day return; the
    average of the seeds' latest models, as in the run) and the position it implies for the
    next open under the run's threshold and long/short rule (`<preset>:<model>:position`);
    with --horizon h > 1 and --signal-horizon h, also the summed h-day forecast the position is
    decided on (`<preset>:<model>:path`, the return over the next h days);
    for a run with --sizing vol-target also the sized weight (`<preset>:<model>:weight`, a
    fraction of equity: the latest fold's scale x signal / the volatility at that close).
    `preset` and `model` (a row label: lstm, gru, mlp, lightgbm, a class name) choose only
    some. `models`: your own classes the run used (`package.module:Class` names or the
    classes), named again because a run folder never names code to import; needed only for
    their rows.

    A universe run gives every ticker's forecasts, indexed by (ticker, date); tickers without
    saved models (skipped or unfinished) are listed in `frame.attrs["skipped"]`.

    A run whose settings, results, saved models or folds were changed after it wrote them is
    refused (`lstmbt.runs.InputChanged`, one line naming the file), as by `lstmbt forecast`.
    """
    run_dir = Path(run_dir)
    check_unchanged(run_dir, folds=True)  # models, folds and settings as the run wrote them
    if "universe" in read_config_doc(run_dir):
        return _universe_forecast(run_dir, preset, source, end, days, model, models)
    cfg = read_config(run_dir, device="auto")  # models load on any device
    names = [preset] if preset else list(cfg.presets)
    labels = list(cfg.model_names())
    if model is not None:
        if model not in labels:
            raise ConfigError(f"the run has no model {model!r}; it has {', '.join(labels)}.")
        labels = [model]
    if preset is not None and preset not in cfg.presets:
        raise ConfigError(f"the run has no preset {preset!r}; it has {', '.join(cfg.presets)}.")
    needed = [cfg.model_names()[m] for m in labels]
    classes = named_classes(
        cfg.models,
        models,
        f"lstmbt forecast {run_dir}",
        required=[n for n in needed if is_dotted_path(n)],
    )
    out = {}
    scales = read_metrics(run_dir).sizing_scales if cfg.sizing == "vol-target" else {}
    prices_cache: dict[str, pd.DataFrame] = {}
    src = source or cfg.source

    def prices(ticker: str, main: bool) -> pd.DataFrame:
        if ticker not in prices_cache:
            use = src if main else companion_source(src, ticker)
            prices_cache[ticker] = load_one(ticker, use, cfg.start, end, None, cfg.date_format)
        return prices_cache[ticker]

    for name, label in [(n, m) for n in names for m in labels]:
        folder = run_dir / "models" / model_dir(name, label)
        if not (folder / "model.json").is_file():
            raise ConfigError(
                f"the run has no saved model {forecaster_name(name, label)!r}; it has presets "
                f"{sorted(p.name for p in (run_dir / 'models').glob('*'))}."
            )
        latest, meta = _load(folder, classes)
        # the run reports the seed ensemble
        members = _seed_models(run_dir, model_dir(name, label), classes) or [latest]
        p = meta["preset"]
        target = prices(cfg.label, True)
        companions = {companion_label(c): prices(c, False) for c in p["companions"]}
        fm = build_features(target, p["features"], companions, p["companion_features"])
        if fm.names != meta["feature_names"]:
            raise DataError(
                f"the features built now ({len(fm.names)}) differ from those the model was "
                f"trained on ({len(meta['feature_names'])}); use the same data source and tickers."
            )
        lookback = p["lookback"]
        W = make_windows(fm.frame.to_numpy(dtype=np.float64), lookback)
        dates = fm.frame.index[lookback - 1 :]
        if days > len(dates):
            raise DataError(f"only {len(dates)} dates have a full window; ask for fewer --days.")
        f = np.mean([m.predict(W[-days:]) for m in members], axis=0)
        row = forecaster_name(name, label)
        out[row] = f[:, 0]
        if cfg.signal_horizon == "h" and f.shape[1] > 1:  # what the position is decided on
            out[f"{row}:path"] = f.sum(axis=1)
        pos = forecast_positions(
            f, dates[-days:], cfg.signal_horizon, cfg.threshold, cfg.long_short
        )
        out[f"{row}:position"] = pos.to_numpy()
        if cfg.sizing == "vol-target":
            ks = scales.get(sized_name(row))
            if ks is None:  # not sized in the run (a forecast that never moved)
                weight = np.full(days, np.nan)
            else:
                vol = known_volatility(adjusted_ohlcv(target)["close"], dates[-days:])
                weight = sized_weights(
                    f, vol, ks[-1], cfg.leverage, cfg.long_short, cfg.signal_horizon
                )
            out[f"{row}:weight"] = np.asarray(weight, dtype=np.float64)
    frame = pd.DataFrame(out, index=dates[-days:])
    frame.index.name = "date"
    return frame


def _universe_forecast(run_dir: Path, preset, source, end, days, model, models) -> pd.DataFrame:
    """Each studied ticker's forecasts (its run folder under tickers/), indexed by
    (ticker, date), in the universe's order."""
    doc = read_config_doc(run_dir)
    order = [m.get("label") for m in doc.get("universe", []) if isinstance(m, dict)]
    frames, skipped = {}, {}
    root = run_dir / "tickers"
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        if not (folder / "config.json").is_file():
            continue
        label = read_config(folder).label
        if not (folder / "models").is_dir():
            skipped[label] = "no saved models (its study did not finish)"
            continue
        frames[label] = forecast_from_run(
            folder, preset, source=source, end=end, days=days, model=model, models=models
        )
    if not frames:
        why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise ConfigError(
            f"the universe run {str(run_dir)!r} has no ticker with saved models"
            + (f" ({why})" if why else "")
            + f"; finish it first: lstmbt resume {run_dir}"
        )
    rank = {label: i for i, label in enumerate(order)}
    labels = sorted(frames, key=lambda t: (rank.get(t, len(rank)), t))
    frame = pd.concat([frames[t] for t in labels], keys=labels, names=["ticker", "date"])
    frame.attrs["skipped"] = skipped
    return frame
