"""Out-of-sample forecasts of every model: the trained forecasters (preset x model x seed x
fold: the LSTM, GRU, MLP or a user's class, trained through study.folds) and the baselines on
the same folds, stitched over the evaluated span.

Each model sees only its fold's training block; every forecast is for a block it never saw.
Each series gets a row in the metrics' model catalogue (preset, model family, role), so no
later stage has to read a name for its parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmbt.config import RunConfig
from lstmbt.features.returns import simple_returns
from lstmbt.metrics import model_entry
from lstmbt.models import (
    TRAINED,
    Forecaster,
    MeanForecaster,
    ModelSpec,
    PersistenceForecaster,
    RidgeForecaster,
    Split,
    TorchForecaster,
    ZeroForecaster,
    resolve_device,
)
from lstmbt.progress import Progress
from lstmbt.study.folds import (
    FoldStore,
    Task,
    TrainerSlot,
    TrainingPlan,
    can_start_warm,
    chains,
    model_dir,
    run_tasks,
    training_predictions,
    work_units,
)
from lstmbt.study.inputs import StudyData, model_meta, plan_folds, windows
from lstmbt.study.sizing import Sizing, fold_scales, predicted_volatility, sizing_of

BASELINE_FOLDS = "_baselines"  # the folds of the shared one-step baselines (lookback 1)


@dataclass(frozen=True)
class Forecasts:
    """Stitched out-of-sample forecasts (n_eval, horizon) and how they were made."""

    eval_pos: np.ndarray  # positions in data.dates of the evaluated decisions
    main: dict[str, np.ndarray]  # trained forecasters (seed ensembles), ridge, baselines
    per_seed: dict[str, list[np.ndarray]]  # trained forecaster's row -> one forecast per seed
    folds: dict[str, list[Split]]
    models: dict[str, Forecaster]  # latest fold, first seed, by model_dir(preset, model)
    entries: list[dict]  # the model catalogue's rows, in the order of `main`
    tested: np.ndarray | None = None  # evaluated decisions the forecast tests use (None: all)
    sizing: Sizing | None = None  # --sizing vol-target: each forecast's fold scales


def forecaster_name(preset: str, model: str) -> str:
    """A trained forecaster's row: `<preset>:<model>` (model: lstm, gru, mlp, a class name)."""
    return f"{preset}:{model}"


def ridge_name(preset: str) -> str:
    return f"{preset}:ridge"


def training_plan(
    config: RunConfig, data: StudyData, folds: dict[str, list[Split]], progress: Progress
) -> TrainingPlan:
    """Every (preset, model, seed, fold) fit, with its windows and how the work is spread."""
    presets = config.model_presets()
    models = config.model_names()
    X = {p.name: windows(data.features[p.name], p.lookback, data.dates) for p in presets}
    seeds = [config.seed + k for k in range(config.seeds)]
    tasks = tuple(
        Task(p.name, s, k, m)
        for p in presets
        for m in models
        for s in seeds
        for k in range(len(folds[p.name]))
    )
    for p in presets:
        f0 = folds[p.name][0]
        progress.stage(
            f"{p.name}: {X[p.name].shape[2]} features x {p.lookback} days; "
            f"{len(folds[p.name])} fold(s) x {len(seeds)} seed(s)"
            + (f" x {len(models)} models" if len(models) > 1 else "")
            + "; first fold trains on "
            f"{len(f0.train)}, validates on {len(f0.val)}, forecasts at {len(f0.test)} closes"
        )
    device = resolve_device(config.device).type
    together = frozenset(
        (p.name, m) for p in presets for m in models if config.seeds_together(p, device, m)
    )
    if together:
        packed = ", ".join(forecaster_name(*pair) for pair in sorted(together))
        progress.stage(f"seeds trained together, packed in one network: {packed}")
    warm = frozenset(
        (p.name, m)
        for p in presets
        for m, name in models.items()
        if config.warm_start and can_start_warm(name) and len(folds[p.name]) > 1
    )
    if warm:
        progress.stage(
            "folds after the first start from the previous fold's weights (a third of the "
            "epochs, half the patience): "
            + ", ".join(forecaster_name(*pair) for pair in sorted(warm))
        )
    jobs, threads = config.resources(chains(work_units(list(tasks), set(together)), set(warm)))
    if jobs > 1:
        progress.stage(f"training {len(tasks)} models in {jobs} processes")
    return TrainingPlan(
        tasks=tasks,
        X=X,
        y=data.targets.loc[data.dates].to_numpy(dtype=np.float64),
        folds=folds,
        specs={
            (p.name, m): ModelSpec(name, config.model_params(p, m))
            for p in presets
            for m, name in models.items()
        },
        meta={p.name: model_meta(config, p, data) for p in presets},
        together=together,
        jobs=jobs,
        threads=threads,
        backend=config.backend,
        ray_address=config.ray_address,
        warm=warm,
    )


def study_plan(
    config: RunConfig, data: StudyData, progress: Progress | None = None
) -> TrainingPlan:
    """Every preset's folds (and the shared baselines'), checked, and the training plan."""
    n = len(data.dates)
    folds = {p.name: plan_folds(config, n, p.lookback) for p in config.model_presets()}
    folds[BASELINE_FOLDS] = plan_folds(config, n, 1)
    return training_plan(config, data, folds, progress or Progress())


def fit_forecasters(
    config: RunConfig,
    data: StudyData,
    progress: Progress | None = None,
    store: FoldStore | None = None,
    trainer: TrainerSlot | None = None,
) -> Forecasts:
    """Every trained forecaster (preset x model x seed x fold) and every baseline, predicting
    only unseen blocks. `trainer`: a universe's shared workers, where this study's units were
    queued."""
    progress = progress or Progress()
    presets = config.model_presets()
    plan = study_plan(config, data, progress)
    folds = dict(plan.folds)
    labels = list(config.model_names())
    last = {
        (p.name, m): Task(p.name, config.seed, len(folds[p.name]) - 1, m)
        for p in presets
        for m in labels
    }
    sized = config.sizing == "vol-target"
    # epoch-by-epoch progress for a few fits of the built-in networks (they report epochs)
    few = plan.jobs == 1 and len(plan.tasks) <= len(presets)
    few = few and all(issubclass(TRAINED.get(n, object), TorchForecaster) for n in config.models)
    with progress.tasks(len(plan.tasks), config.epochs if few else None) as (on_done, on_epoch):
        done = run_tasks(
            plan,
            store=store,
            on_done=on_done,
            on_epoch_for=on_epoch,
            keep=frozenset(plan.tasks if sized else last.values()),  # sizing: every fold's
            note=progress.note,
            trainer=trainer,
        )
    train_fc: dict[str, list[np.ndarray]] = {}  # per forecast, its forecasts of each train block
    main: dict[str, np.ndarray] = {}
    per_seed: dict[str, list[np.ndarray]] = {}
    models: dict[str, Forecaster] = {}
    entries: list[dict] = []
    for p in presets:
        for m in labels:
            name = forecaster_name(p.name, m)
            per_seed[name] = [
                np.concatenate(
                    [done.predictions[Task(p.name, s, k, m)] for k in range(len(folds[p.name]))]
                )
                for s in range(config.seed, config.seed + config.seeds)
            ]
            main[name] = np.mean(per_seed[name], axis=0)  # the seed ensemble
            entries.append(model_entry(name, m, "forecaster", p.name))
            if sized:
                train_fc[name] = [
                    np.mean(
                        [
                            _training_forecast(plan, store, done.models, Task(p.name, s, k, m))
                            for s in range(config.seed, config.seed + config.seeds)
                        ],
                        axis=0,
                    )
                    for k in range(len(folds[p.name]))
                ]
            task = last[(p.name, m)]
            if task in done.models:
                models[model_dir(p.name, m)] = done.models[task]
            elif store is not None:
                models[model_dir(p.name, m)] = store.load_model(task, plan.user_classes())
        name = ridge_name(p.name)
        main[name], train_fc[name] = _per_fold(
            RidgeForecaster, plan.X[p.name], plan.y, folds[p.name]
        )
        entries.append(model_entry(name, "ridge", "baseline", p.name))
    for name, (forecast, train) in _shared_baselines(data, plan.y, folds[BASELINE_FOLDS]).items():
        main[name], train_fc[name] = forecast, train
        entries.append(model_entry(name, name, "baseline"))
    eval_pos = np.concatenate([f.test for f in folds[BASELINE_FOLDS]])
    sizing = _sizing(config, data, plan, folds, train_fc, entries) if sized else None
    return Forecasts(eval_pos, main, per_seed, folds, models, entries, sizing=sizing)


def _training_forecast(plan: TrainingPlan, store: FoldStore | None, kept: dict, task: Task):
    if task in kept:  # trained here
        return training_predictions(plan, task, kept[task])
    model = store.load_model(task, plan.user_classes())
    return training_predictions(plan, task, model)


def _sizing(config, data, plan, folds, train_fc, entries) -> Sizing:
    """Every forecast's fold scales (fit on its training blocks); forecasts that never move
    (the random walk's zeros) have nothing to size and are left out."""
    vol = predicted_volatility(data.ohlcv["close"], data.dates).to_numpy()
    realised = plan.y[:, 0]
    per_fold, their_folds = {}, {}
    for e in entries:
        name = e["name"]
        fold_list = folds[e["preset"] or BASELINE_FOLDS]  # the shared baselines have no preset
        ks = fold_scales(config, train_fc[name], fold_list, vol, realised)
        if any(k != 0 for k in ks):
            per_fold[name], their_folds[name] = ks, fold_list
    return sizing_of(config, per_fold, their_folds, entries)


def _per_fold(make, X: np.ndarray, y: np.ndarray, folds: list[Split]):
    """A baseline refit on each fold's training block: its stitched test forecasts and, per
    fold, its forecasts of the training block (for --sizing)."""
    test, train = [], []
    for f in folds:
        model = make().fit(X[f.train], y[f.train])
        test.append(model.predict(X[f.test]))
        train.append(model.predict(X[f.train]))
    return np.concatenate(test), train


def _shared_baselines(
    data: StudyData, y: np.ndarray, folds: list[Split]
) -> dict[str, tuple[np.ndarray, list[np.ndarray]]]:
    """Random walk, training mean and persistence: they read only today's close change."""
    ret1 = simple_returns(data.ohlcv["close"]).loc[data.dates].to_numpy()[:, None, None]
    makers = {
        "random_walk": ZeroForecaster,
        "train_mean": MeanForecaster,
        "persistence": lambda: PersistenceForecaster(feature_index=0),
    }
    return {name: _per_fold(make, ret1, y, folds) for name, make in makers.items()}
