"""Forecast with a saved model, without retraining: the latest close's signal for the next open.

Rebuilds the model's features from fresh prices with the same groups, companions and lookback
as when it was trained, checks the feature list matches, and applies the run's signal rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lstmbt.data import load_one
from lstmbt.errors import ConfigError, DataError
from lstmbt.features import build_features, make_windows
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.metrics import sized_name
from lstmbt.models import load_forecaster
from lstmbt.runs import read_config, read_metrics
from lstmbt.strategies import forecast_positions
from lstmbt.study.folds import model_dir
from lstmbt.study.forecasters import forecaster_name
from lstmbt.study.inputs import companion_label, companion_source
from lstmbt.study.sizing import known_volatility, sized_weights


def _seed_models(run_dir: Path, folder: str) -> list:
    """The latest fold's model of every seed (what the run's ensemble row averages)."""
    root = run_dir / "folds" / folder  # also holds other models' folders (<preset>/<model>)
    seeds = sorted(p for p in root.glob("seed*") if re.fullmatch(r"seed\d+", p.name))
    models = []
    for seed_dir in seeds:
        folds = sorted(seed_dir.glob("fold*"))
        if folds and (folds[-1] / "model.json").is_file():
            models.append(_load(folds[-1])[0])
    return models


def _load(folder: Path) -> tuple:
    """A saved model; a folder it cannot read is the user's to fix (re-run), not a crash."""
    try:
        return load_forecaster(folder)
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
) -> pd.DataFrame:
    """Forecasts of the run's saved model(s) for the last `days` closes up to `end`.

    Columns: per preset and model, its forecast (`<preset>:<model>`, next-day return; the
    average of the seeds' latest models, as in the run) and the position it implies for the
    next open under the run's threshold and long/short rule (`<preset>:<model>:position`);
    for a run with --sizing vol-target also the sized weight (`<preset>:<model>:weight`, a
    fraction of equity: the latest fold's scale x signal / the volatility at that close).
    `preset` and `model` (a row label: lstm, gru, mlp, a class name) choose only some.
    """
    run_dir = Path(run_dir)
    cfg = read_config(run_dir, device="auto")  # models load on any device
    names = [preset] if preset else list(cfg.presets)
    labels = list(cfg.model_names())
    if model is not None:
        if model not in labels:
            raise ConfigError(f"the run has no model {model!r}; it has {', '.join(labels)}.")
        labels = [model]
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
        latest, meta = _load(folder)
        # the run reports the seed ensemble
        members = _seed_models(run_dir, model_dir(name, label)) or [latest]
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
