"""The typed metrics of a study: tables indexed by model name, and metrics.json's format.

Every evaluated series has a row in `Metrics.models` saying what it is (its preset, its model
family, its role), so no consumer parses names such as "lookback:lstm". metrics.json keeps the
nested layout that earlier runs wrote, plus `format` and the `models` table; `Metrics.from_json`
reads both and refuses a newer format with a message naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lstmbt.errors import LstmbtError
from lstmbt.findings import ConfidenceSet, Overfitting, StepM, TrackRecord

FORMAT = 3  # of metrics.json and config.json; files without a number are format 1
ROLES = ("forecaster", "baseline", "strategy", "benchmark")
BENCHMARK = "buy_and_hold"

STRATEGY_COLUMNS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "volatility",
    "max_drawdown",
    "days",
    "exposure",
    "trades",
    "turnover",
    "gross_return",
    "gross_sharpe",
    "cost_drag",
    "cost_share",
)
FORECAST_COLUMNS = ("rmse", "mae", "hit_rate", "ic", "r2_vs_zero", "n")
# the leak checks' columns of forecast_tests (lstmbt.study.leaks.COLUMNS; docs/statistics.md)
LEAK_COLUMNS = (
    "corr_next",
    "p_next",
    "corr_same",
    "p_same",
    "corr_beyond",
    "p_leak",
    "p_strong",
    "leak_days",
    "leak",
    "implausible",
)
SEED_KEYS = ("sharpe", "total_return", "rmse", "hit_rate")
_INTS = {"days", "trades", "n", "n_seeds", "dsr_n_trials", "fold", "diff_days", "leak_days"}

# the comparison table: (table, column, header, format); "p" formats a p-value (fmt_p). The
# Diebold-Mariano column is one-sided with its direction (H1: lower squared loss than the random
# walk) beside the loss ratio; a run written before they existed shows "-" there.
COLUMNS = [
    ("strategy", "total_return", "Total return", "{:+.1%}"),
    ("strategy", "cagr", "CAGR", "{:+.1%}"),
    ("strategy", "sharpe", "Sharpe", "{:.2f}"),
    ("strategy", "max_drawdown", "Max DD", "{:.1%}"),
    ("strategy", "trades", "Trades", "{:d}"),
    ("strategy", "exposure", "Exposure", "{:.0%}"),
    ("forecast", "rmse", "RMSE", "{:.5f}"),
    ("forecast", "hit_rate", "Hit rate", "{:.1%}"),
    ("forecast", "ic", "IC", "{:+.3f}"),
    ("forecast", "r2_vs_zero", "R² vs RW", "{:+.4f}"),
    ("strategy_tests", "diff", "ΔSharpe", "{:+.2f}"),
    ("strategy_tests", "diff_p_value", "p ΔSharpe", "p"),
    ("strategy_tests", "breakeven_bps", "Break-even", "{}"),
    ("forecast_tests", "dm_p_better", "DM p (better than RW)", "p"),
    ("forecast_tests", "loss_ratio", "MSE / RW", "{:.3f}"),
    ("forecast_tests", "pt_p", "PT p", "p"),
]
BREAKEVEN_MAX_BPS = 100  # where the search for a break-even cost stops (study/costs.py)


def finite(value: object) -> float | None:
    """A finite float, or None (missing, NaN, infinite, not a number): the one test of whether
    a number could be computed, for every sentence and cell that shows one."""
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt_signed(value: object) -> str:
    """A signed difference to two decimals ('+0.12'); '-' when it could not be computed."""
    x = finite(value)
    return "-" if x is None else f"{x:+.2f}"


def fmt2(value: float | None) -> str:
    """A ratio to two decimals; '-' when it could not be computed."""
    return "-" if value is None or value != value else f"{value:.2f}"


def fmt_p(value: float | None) -> str:
    """A p-value: '< 0.001' below 0.001, three decimals below 0.10 (so 0.048 and 0.052 are not
    both '0.05'), else two; '-' when it could not be computed."""
    if value is None or value != value:
        return "-"
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}" if value < 0.10 else f"{value:.2f}"


def p_equals(value: float | None) -> str:
    """A p-value in a sentence: 'p = 0.048', 'p < 0.001'."""
    text = fmt_p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_bps(value: float | None) -> str:
    """A per-side cost in bps, capped at the break-even search's limit: '5.3 bps', '> 100 bps'."""
    if value is None or value != value:
        return "-"
    if value >= BREAKEVEN_MAX_BPS:
        return f"> {BREAKEVEN_MAX_BPS} bps"
    return f"{value:.1f} bps"


def breakeven_interval(low: float | None, high: float | None) -> str:
    """A break-even cost's 95% interval in bps; an end at the search's cap is '> 100', never the
    cap as if it were an estimate: '[0.0, 14.6] bps', '[3.1, > 100] bps'."""
    if low is None or high is None or low != low or high != high:
        return ""

    def end(x: float) -> str:
        return f"> {BREAKEVEN_MAX_BPS}" if x >= BREAKEVEN_MAX_BPS else f"{x:.1f}"

    return f"[{end(low)}, {end(high)}] bps"


def format_cell(header: str, value: object) -> str:
    """One comparison-table cell, rendered the same way in the terminal and the HTML report."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):  # already in words (the break-even cost)
        return value
    fmt = next(f for _, _, h, f in COLUMNS if h == header)
    if fmt == "p":
        return fmt_p(float(value))
    if fmt == "{:d}":
        return f"{int(value):d}"
    return fmt.format(value)


NOT_SIGNIFICANT = "(n.s.)"  # a break-even cost whose interval reaches 0: a point estimate only


def breakeven_supported(low: float | None) -> bool:
    """Is a break-even cost significant: its 95% interval's lower end above 0 (the verdict's
    rule: an interval that reaches 0, or none at all, is "not significant")."""
    return low is not None and low == low and low > 0


def breakeven_text(status: str | None, bps: float | None, supported: bool = True) -> str:
    """A break-even cost in words: '3.2 bps', 'none' (trails buy-and-hold even at zero cost),
    '> 100 bps' (still ahead there), 'none (= B&H)' (it is buy-and-hold), '-' (not computed).
    With `supported` False (`breakeven_supported` of its interval's lower end) a cost is marked
    '3.2 bps (n.s.)': an estimate the bootstrap does not separate from 0, never a fact."""
    if status == "crosses" and bps is not None and bps == bps:
        text = f"{bps:.1f} bps"
    else:
        text = {
            "trails": "none",
            "beyond": f"> {BREAKEVEN_MAX_BPS} bps",
            "identical": "none (= B&H)",
        }.get(status or "", "-")
    if not supported and text.endswith(" bps"):
        return f"{text} {NOT_SIGNIFICANT}"
    return text


SIZED = "@sized"  # the row of a forecast traded with --sizing vol-target
STEP = "@t+"  # predictions' columns of a multi-step forecast's later days: `<name>@t+k`
PATH = "path"  # the per-step table's row of a forecast's h-day path (the sum of its steps)
# dm_p two-sided; dm_p_better one-sided (H1: lower loss than the random walk); loss_ratio:
# the forecast's MSE over the random walk's
STEP_COLUMNS = (
    "rmse",
    "hit_rate",
    "ic",
    "r2_vs_zero",
    "dm_stat",
    "dm_p",
    "dm_p_better",
    "loss_ratio",
    "n",
)


def step_name(name: str, step: int) -> str:
    """The predictions column of `name`'s forecast of the return `step` days ahead: the bare
    name for the next day (as in a one-step run), `<name>@t+k` for k >= 2."""
    return name if step == 1 else f"{name}{STEP}{step}"


def is_step_column(column: object) -> bool:
    """Whether a predictions column holds a later step (k >= 2) of a multi-step forecast."""
    head, sep, k = str(column).rpartition(STEP)
    return bool(head and sep and k.isdigit() and int(k) >= 2)


def forecast_strategies(m: Metrics) -> list[str]:
    """The strategies a run built from its forecasts, each once: every forecaster's sign rule
    and, with --sizing vol-target, its sized rule (the family the answer's Holm correction
    spans, study.verdict.holm_family)."""
    names = m.names(role="forecaster")
    sized = [sized_name(n) for n in names if sized_name(n) in m.strategy.index]
    return list(dict.fromkeys([*names, *sized]))


def sized_name(name: str) -> str:
    """The row of `name`'s forecast traded by strength (--sizing vol-target) beside its sign
    rule: `<name>@sized`."""
    return f"{name}{SIZED}"


def model_entry(name: str, model: str, role: str, preset: str | None = None) -> dict[str, Any]:
    """One row of `Metrics.models`."""
    assert role in ROLES, role
    return {"name": name, "preset": preset, "model": model, "role": role}


def models_table(entries: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The catalogue of evaluated series: index name; columns preset, model, role."""
    frame = pd.DataFrame(list(entries), columns=["name", "preset", "model", "role"])
    return frame.set_index("name")


def _legacy_models(names: Iterable[str], benchmark: str) -> pd.DataFrame:
    """The catalogue of a format-1 run, which did not store one: the only place a name is read
    for its parts ("<preset>:<model>" rows, bare baseline and strategy names)."""
    rows = []
    for name in names:
        if name == benchmark:
            rows.append(model_entry(name, name, "benchmark"))
        elif ":" in name:
            preset, model = name.split(":", 1)
            role = "forecaster" if model == "lstm" else "baseline"
            rows.append(model_entry(name, model, role, preset))
        elif name == "ma_crossover":
            rows.append(model_entry(name, name, "strategy"))
        else:
            rows.append(model_entry(name, name, "baseline"))
    return models_table(rows)


@dataclass(frozen=True)
class Span:
    """The evaluated out-of-sample span and the study design behind it."""

    ticker: str
    test_start: str
    test_end: str
    test_days: int
    first_decision: str
    train_start: str
    walk_forward: bool
    folds: int
    seeds: int
    costs_per_side: dict[str, float]
    kind: str = "study"  # "study": models trained here; "judge": forecasts brought by the user
    costs: dict[str, float] = field(default_factory=dict)  # min_fee, capital, borrow_fee
    cash_rate: str = "none"  # the interest on cash (Sharpe ratios are measured over it)

    @property
    def cost_bps(self) -> float:
        """The run's proportional cost per side in bps: commission + slippage + half-spread."""
        return sum(self.costs_per_side.values()) * 1e4


ANSWERS = ("Yes", "No", "Inconclusive")  # the verdict's one-word answers (docs/statistics.md)


@dataclass(frozen=True)
class ModelVerdict:
    """One forecaster's verdict: the one-word answer, the headline that backs it ("lookback:lstm
    does not beat buy-and-hold after costs: Sharpe 0.07 vs 0.55, p = 0.19") and the details, one
    fact per item. `answer` is "" for a verdict read from a run written before answers existed.
    str() is the text: the answer line, then one indented line per detail."""

    name: str
    answer: str
    headline: str
    details: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The answer line: 'No — <headline>'."""
        return f"{self.answer} — {self.headline}" if self.answer else self.headline

    def __str__(self) -> str:
        return "\n".join([self.line, *(f"  - {d}" for d in self.details)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "answer": self.answer,
            "headline": self.headline,
            "details": list(self.details),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelVerdict:
        return cls(
            str(doc.get("name", "")),
            str(doc.get("answer", "")),
            str(doc.get("headline", "")),
            tuple(str(d) for d in doc.get("details", ())),
        )


@dataclass(frozen=True)
class Verdict(Sequence):
    """The verdict of a run: one `ModelVerdict` per forecaster (`models`) and the facts about
    the whole run, said once (`run`: Hansen's SPA test over every strategy, the design).

    It reads as text, as the tuple of sentences it replaced: iterating gives each model's text
    (str of its ModelVerdict) and then the run's lines, `verdict[0]` is the first model's text,
    and str() is all of it, one line each."""

    models: tuple[ModelVerdict, ...] = ()
    run: tuple[str, ...] = ()

    def _lines(self) -> tuple[str, ...]:
        return (*(str(m) for m in self.models), *self.run)

    def __getitem__(self, index):
        return self._lines()[index]

    def __len__(self) -> int:
        return len(self.models) + len(self.run)

    def __str__(self) -> str:
        return "\n".join(self._lines())

    @property
    def answers(self) -> dict[str, str]:
        """Forecaster -> its one-word answer."""
        return {m.name: m.answer for m in self.models}

    def of(self, name: str) -> ModelVerdict:
        """The verdict of the forecaster `name`."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no verdict for {name!r}; the verdict covers {list(self.answers)}")

    def with_run(self, *lines: str) -> Verdict:
        """The same verdict with more run-wide lines after its own."""
        return dataclasses.replace(self, run=(*self.run, *lines))

    def to_json(self) -> dict[str, Any]:
        """metrics.json's `verdict` (every line as text, as earlier runs wrote it),
        `verdict_models` and `verdict_run` (the typed parts)."""
        return {
            "verdict": list(self),
            "verdict_models": [m.to_dict() for m in self.models],
            "verdict_run": list(self.run),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Verdict:
        """From metrics.json or universe.json; a file written before the verdict was typed
        has only the text lines, read as run-wide lines without answers."""
        if "verdict_models" in doc:
            return cls(
                tuple(ModelVerdict.from_dict(m) for m in doc["verdict_models"]),
                tuple(str(x) for x in doc.get("verdict_run", ())),
            )
        return cls((), tuple(str(x) for x in doc.get("verdict", ())))


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 strategy', '4 strategies'."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def tested_of(tested: int, left_out: Sequence[str], noun: str = "strategy") -> str:
    """A test's family in words: 'the 4 strategies it could test (of 6; left out: a, which
    ...; b, which ...)', or 'all 4 strategies of this run' when none was left out."""
    many = "strategies" if noun == "strategy" else noun + "s"
    if not left_out:
        if tested == 1:
            return f"the 1 {noun} of this run"
        return f"all {plural(tested, noun, many)} of this run"
    total = tested + len(left_out)
    return (
        f"the {plural(tested, noun, many)} it could test (of {total}; left out: "
        f"{'; '.join(left_out)})"
    )


def _left_out_words(merged: Mapping[str, str], left_out: Mapping[str, str]) -> list[str]:
    """'name, which <reason>' for each strategy SPA did not test as its own."""
    words = [
        f"{name}, which returns what {into} does on every day"
        + ("" if into == BENCHMARK else f" (tested as {into})")
        for name, into in merged.items()
    ]
    return words + [f"{name}, which {why}" for name, why in left_out.items()]


@dataclass(frozen=True)
class Spa:
    """Hansen's SPA test of "no strategy beats the benchmark" (None: could not be run)."""

    p_lower: float | None = None
    p_consistent: float | None = None
    p_upper: float | None = None
    n_strategies: int = 0
    tested: tuple[str, ...] = ()
    merged: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Spa:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in doc.items() if k in names}
        values["notes"] = tuple(values.get("notes", ()))
        values["tested"] = tuple(values.get("tested", ()))
        return cls(**values)

    @property
    def scope(self) -> str:
        """What SPA tested, in words: 'the 4 strategies it could test (of 6; left out:
        random_walk, which never held a position; ...)'; every strategy the run had when
        none was left out."""
        return tested_of(self.n_strategies, _left_out_words(self.merged, self.left_out))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["notes"] = list(self.notes)
        out["tested"] = list(self.tested)
        return out


@dataclass(frozen=True)
class Trials:
    """The configurations counted by the deflated Sharpe ratio: this run's distinct ones
    (annualised Sharpe each) and those of earlier runs on the same data in the same reports
    folder (a user who reruns with other settings until something looks good tried them too)."""

    this_run: tuple[float, ...] = ()
    earlier: tuple[float, ...] = ()
    earlier_runs: int = 0
    declared: int = 0  # variants a user says were tried before (judge --trials N)

    @property
    def count(self) -> int:
        return len(self.this_run) + len(self.earlier) + self.declared

    def to_dict(self) -> dict[str, Any]:
        return {
            "this_run": list(self.this_run),
            "earlier": list(self.earlier),
            "earlier_runs": self.earlier_runs,
            "declared": self.declared,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Trials:
        return cls(
            tuple(doc.get("this_run", ())),
            tuple(doc.get("earlier", ())),
            int(doc.get("earlier_runs", 0)),
            int(doc.get("declared", 0)),
        )


@dataclass(frozen=True)
class Metrics:
    """Forecast and after-cost strategy metrics with their tests, as tables indexed by name.

    Attributes
    ----------
    models
        preset, model (lstm, ridge, random_walk, ...), role (forecaster, baseline,
        strategy, benchmark) of every evaluated series
    strategy
        total_return, cagr, sharpe, sortino, volatility, max_drawdown, days,
        exposure, trades, turnover, gross_return, gross_sharpe, cost_drag,
        cost_share (every backtested strategy, the benchmark included)
    forecast
        rmse, mae, hit_rate, ic, r2_vs_zero, n (every forecaster and baseline)
    strategy_tests
        sharpe with its bootstrap interval, the difference to the benchmark with
        interval and p-value, the deflated Sharpe (dsr, dsr_sr0_annual, dsr_n_trials),
        the break-even cost (breakeven, breakeven_bps with its interval, ...)
    forecast_tests
        Diebold-Mariano vs the random walk (squared and absolute loss: two-sided dm_p,
        dm_abs_p; one-sided "better than the random walk" dm_p_better, dm_abs_p_better;
        loss_ratio, the MSE over the random walk's), Pesaran-Timmermann, IC with interval,
        the lag check (lag_corr, echo) and the leak checks (LEAK_COLUMNS)
    seed_scores
        one row per (trained forecaster, seed): sharpe, total_return, rmse, hit_rate
    folds
        one row per walk-forward fold: test_start, test_end, days
    fold_scores
        one row per (fold, name): total_return, rmse, hit_rate
    cost_sweep
        index bps (one per-side cost rate); one column per strategy: its Sharpe ratio
        over the cash rate at that cost
    sizing_scales
        per sized row (`<name>@sized`, --sizing vol-target): the scale k of each fold, fit
        on its training block (weight = k x forecast / volatility)
    steps
        with --horizon h > 1: index (name, step), step "t+1" .. "t+h" and "path" (the sum
        of the h daily forecasts against the sum of the h realised daily returns); columns
        rmse, hit_rate, ic, r2_vs_zero, dm_stat, dm_p (Diebold-Mariano against the random
        walk, squared loss, HLN-corrected for a k-day forecast; two-sided), dm_p_better (its
        one-sided p-value, H1: the forecast's loss is lower), loss_ratio (the forecast's MSE
        over the random walk's), n. Empty for one step.
    overfitting
        the probability of backtest overfitting (CSCV) over every distinct configuration
        tried (None: not computed, or a run written before it; `notes` says why)
    stepm
        Romano-Wolf StepM of every strategy against the benchmark, family-wise at 5%
    confidence_set
        Hansen's model confidence set (90%, squared forecast error) over the forecasters and
        baselines
    track_records
        per forecast strategy (each forecaster's sign rule and sized rule): PSR and minimum
        track record length against the benchmark's Sharpe ratio
    """

    benchmark: str
    span: Span
    models: pd.DataFrame
    strategy: pd.DataFrame
    forecast: pd.DataFrame
    strategy_tests: pd.DataFrame
    forecast_tests: pd.DataFrame
    spa: Spa
    seed_scores: pd.DataFrame
    folds: pd.DataFrame
    fold_scores: pd.DataFrame
    notes: tuple[str, ...] = ()
    verdict: Verdict = field(default_factory=Verdict)
    tearsheets: dict[str, str] = field(default_factory=dict)
    trials: Trials = field(default_factory=Trials)
    cost_sweep: pd.DataFrame = field(default_factory=lambda: _sweep_table({}, []))
    sizing_scales: dict[str, tuple[float, ...]] = field(default_factory=dict)
    steps: pd.DataFrame = field(default_factory=lambda: step_table([]))
    overfitting: Overfitting | None = None
    stepm: StepM | None = None
    confidence_set: ConfidenceSet | None = None
    track_records: dict[str, TrackRecord] = field(default_factory=dict)

    # --- views -------------------------------------------------------------------------------
    def names(self, model: str | None = None, role: str | None = None) -> list[str]:
        """Names of the series of one model family and/or role, in table order."""
        sel = pd.Series(True, index=self.models.index)
        if model is not None:
            sel &= self.models["model"] == model
        if role is not None:
            sel &= self.models["role"] == role
        return list(self.models.index[sel])

    @property
    def lstms(self) -> list[str]:
        """The LSTM rows (seed ensembles), one per preset."""
        return self.names(model="lstm")

    @property
    def forecasters(self) -> list[str]:
        """The forecaster rows: a study's trained models (seed ensembles, one per preset and
        model: lstm, gru, mlp, a user's class) or a judged run's submitted columns."""
        return self.names(role="forecaster")

    def value(self, table: str, name: str, column: str) -> Any:
        """One cell as a JSON-ready value (NaN and missing -> None)."""
        frame: pd.DataFrame = getattr(self, table)
        if name not in frame.index or column not in frame.columns:
            return None
        return _clean(frame.at[name, column], column)

    def seeds_summary(self) -> pd.DataFrame:
        """Per LSTM: n_seeds and the mean and standard deviation of each seed score."""
        rows = {}
        for name, group in self.seed_scores.groupby(level=0, sort=False):
            row: dict[str, Any] = {"n_seeds": len(group)}
            for key in SEED_KEYS:
                stats = seed_stats(group[key].tolist())
                row[f"{key}_mean"], row[f"{key}_std"] = stats["mean"], stats["std"]
            rows[name] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def comparison(self) -> pd.DataFrame:
        """One row per strategy (benchmark first): after-cost strategy and forecast metrics."""
        names = [self.benchmark] + [n for n in self.strategy.index if n != self.benchmark]
        rows = {
            name: {header: self.value(table, name, key) for table, key, header, _ in COLUMNS}
            for name in names
        }
        for name in names:
            if name != self.benchmark:
                status = self.value("strategy_tests", name, "breakeven")
                supported = breakeven_supported(self.value("strategy_tests", name, "breakeven_low"))
                rows[name]["Break-even"] = breakeven_text(
                    status, rows[name]["Break-even"], supported
                )
        return pd.DataFrame.from_dict(rows, orient="index")

    # --- metrics.json ------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """metrics.json: the nested layout of format 1, plus `format` and `models`."""
        doc: dict[str, Any] = {"format": FORMAT, "span": dataclasses.asdict(self.span)}
        doc["forecast"] = _rows(self.forecast)
        doc["forecast_tests"] = {n: self._forecast_test_doc(n) for n in self.forecast_tests.index}
        doc["strategy"] = _rows(self.strategy)
        doc["strategy_tests"] = {n: self._strategy_test_doc(n) for n in self.strategy_tests.index}
        doc["spa"] = self.spa.to_dict()
        doc["trials"] = self.trials.to_dict()
        doc["seeds"] = {
            name: {
                "n_seeds": len(group),
                **{key: seed_stats(group[key].tolist()) for key in SEED_KEYS},
            }
            for name, group in self.seed_scores.groupby(level=0, sort=False)
        }
        doc["folds"] = [self._fold_doc(k) for k in self.folds.index]
        doc["benchmark"] = self.benchmark
        doc["models"] = {
            n: {k: _clean(v, k) for k, v in row.items()} for n, row in self.models.iterrows()
        }
        doc["notes"] = list(self.notes)
        doc.update(_verdict(self.verdict).to_json())
        doc["tearsheets"] = dict(self.tearsheets)
        doc["cost_sweep"] = {
            "bps": [float(b) for b in self.cost_sweep.index],
            "sharpe": {c: [_clean(v) for v in self.cost_sweep[c]] for c in self.cost_sweep},
        }
        if self.sizing_scales:
            doc["sizing_scales"] = {n: list(ks) for n, ks in self.sizing_scales.items()}
        if len(self.steps):  # multi-step runs only: a one-step run's file is as it was
            doc["steps"] = {
                name: {
                    step: {c: _clean(row[c], c) for c in STEP_COLUMNS}
                    for (_, step), row in group.iterrows()
                }
                for name, group in self.steps.groupby(level="name", sort=False)
            }
        doc["overfitting"] = None if self.overfitting is None else self.overfitting.to_dict()
        doc["stepm"] = None if self.stepm is None else self.stepm.to_dict()
        doc["mcs"] = None if self.confidence_set is None else self.confidence_set.to_dict()
        doc["track_records"] = {n: t.to_dict() for n, t in self.track_records.items()}
        return doc

    def _forecast_test_doc(self, name: str) -> dict[str, Any]:
        v = {c: self.value("forecast_tests", name, c) for c in self.forecast_tests.columns}
        return {
            "dm_squared_vs_rw": {
                "stat": v["dm_stat"],
                "p_value": v["dm_p"],
                "p_better": v.get("dm_p_better"),
                "loss_ratio": v.get("loss_ratio"),
            },
            "dm_absolute_vs_rw": {
                "stat": v["dm_abs_stat"],
                "p_value": v["dm_abs_p"],
                "p_better": v.get("dm_abs_p_better"),
            },
            "dm_p": v["dm_p"],
            "pt": {"stat": v["pt_stat"], "p_value": v["pt_p"], "hit_rate": v["pt_hit_rate"]},
            "pt_p": v["pt_p"],
            "ic": {"ic": v["ic"], "ci_low": v["ic_low"], "ci_high": v["ic_high"]},
            "lag": {"corr_by_lag": list(v["lag_corr"] or []), "echo": bool(v["echo"])},
            "leaks": {
                **{k: v.get(k) for k in LEAK_COLUMNS},
                "leak": bool(v.get("leak")),
                "implausible": bool(v.get("implausible")),
            },
        }

    def _strategy_test_doc(self, name: str) -> dict[str, Any]:
        v = {c: self.value("strategy_tests", name, c) for c in self.strategy_tests.columns}
        out = {k: v[k] for k in ("sharpe", "ci_low", "ci_high")}
        if name != self.benchmark:
            for k in ("diff", "diff_ci_low", "diff_ci_high", "diff_p_value", "diff_days"):
                out[k] = v[k]
        out["dsr"] = {
            "dsr": v["dsr"],
            "sr0_annual": v["dsr_sr0_annual"],
            "n_trials": v["dsr_n_trials"],
        }
        if name != self.benchmark:
            out["breakeven"] = {
                "sharpe": v.get("breakeven"),
                "bps": v.get("breakeven_bps"),
                "ci_low": v.get("breakeven_low"),
                "ci_high": v.get("breakeven_high"),
                "approx_bps": v.get("breakeven_approx_bps"),
                "total_return": v.get("breakeven_return"),
                "total_return_bps": v.get("breakeven_return_bps"),
            }
        return out

    def _fold_doc(self, k: int) -> dict[str, Any]:
        row = {"fold": int(k), **{c: _clean(self.folds.at[k, c], c) for c in self.folds.columns}}
        scores = self.fold_scores.xs(k, level="fold") if len(self.fold_scores) else None
        forecasters = set(self.forecasters)
        for key in ("total_return", "rmse", "hit_rate"):
            row[key] = {}
            if scores is None:
                continue
            for name in scores.index:
                if key == "total_return" or name in forecasters:
                    row[key][name] = _clean(scores.at[name, key], key)
        return row

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str = "metrics.json") -> Metrics:
        """Metrics from metrics.json of this format or an earlier one."""
        version = doc.get("format", 1)
        if not isinstance(version, int) or version > FORMAT:
            raise LstmbtError(
                f"{where} is format {version}, newer than this lstmbt reads (format {FORMAT}); "
                "upgrade lstmbt (pip install -U lstmbt) to read it."
            )
        benchmark = doc["benchmark"]
        strategy = _frame(doc.get("strategy", {}), STRATEGY_COLUMNS)
        forecast = _frame(doc.get("forecast", {}), FORECAST_COLUMNS)
        if "models" in doc:
            models = models_table({"name": n, **row} for n, row in doc["models"].items())
        else:
            names = list(dict.fromkeys([*forecast.index, *strategy.index]))
            models = _legacy_models(names, benchmark)
        st_rows = {}
        for name, t in doc.get("strategy_tests", {}).items():
            dsr = t.get("dsr") or {}
            be = t.get("breakeven") or {}
            st_rows[name] = {
                "breakeven": be.get("sharpe"),
                "breakeven_bps": be.get("bps"),
                "breakeven_low": be.get("ci_low"),
                "breakeven_high": be.get("ci_high"),
                "breakeven_approx_bps": be.get("approx_bps"),
                "breakeven_return": be.get("total_return"),
                "breakeven_return_bps": be.get("total_return_bps"),
                **{k: t.get(k) for k in ("sharpe", "ci_low", "ci_high")},
                **{
                    k: t.get(k)
                    for k in ("diff", "diff_ci_low", "diff_ci_high", "diff_p_value", "diff_days")
                },
                "dsr": dsr.get("dsr"),
                "dsr_sr0_annual": dsr.get("sr0_annual"),
                "dsr_n_trials": dsr.get("n_trials"),
            }
        ft_rows = {}
        for name, t in doc.get("forecast_tests", {}).items():
            ft_rows[name] = forecast_test_row(
                t["dm_squared_vs_rw"],
                t["dm_absolute_vs_rw"],
                t["pt"],
                t["ic"],
                t["lag"],
                t.get("leaks"),
            )
            if ft_rows[name]["loss_ratio"] is None:  # a run from before the column
                ft_rows[name]["loss_ratio"] = _loss_ratio(forecast, name)
        seed_rows = []
        for name, s in doc.get("seeds", {}).items():
            for k in range(s.get("n_seeds", 0)):
                seed_rows.append(
                    {"name": name, "seed": k, **{key: s[key]["values"][k] for key in SEED_KEYS}}
                )
        sweep = doc.get("cost_sweep", {})
        fold_rows, score_rows = [], []
        for f in doc.get("folds", []):
            fold_rows.append({c: f[c] for c in ("fold", "test_start", "test_end", "days")})
            for name, total in f.get("total_return", {}).items():
                score_rows.append(
                    {
                        "fold": f["fold"],
                        "name": name,
                        "total_return": total,
                        "rmse": f.get("rmse", {}).get(name),
                        "hit_rate": f.get("hit_rate", {}).get(name),
                    }
                )
        return cls(
            benchmark=benchmark,
            span=Span(**doc["span"]),
            models=models,
            strategy=strategy,
            forecast=forecast,
            strategy_tests=_frame(st_rows, STRATEGY_TEST_COLUMNS),
            forecast_tests=_frame(ft_rows, FORECAST_TEST_COLUMNS),
            spa=Spa.from_dict(doc.get("spa", {})),
            seed_scores=seed_table(seed_rows),
            folds=fold_table(fold_rows),
            fold_scores=fold_score_table(score_rows),
            notes=tuple(doc.get("notes", [])),
            verdict=Verdict.from_json(doc),
            tearsheets=dict(doc.get("tearsheets", {})),
            trials=Trials.from_dict(doc.get("trials", {})),
            cost_sweep=_sweep_table(sweep.get("sharpe", {}), sweep.get("bps", [])),
            sizing_scales={
                n: tuple(float(k) for k in ks) for n, ks in doc.get("sizing_scales", {}).items()
            },
            steps=step_table(
                {"name": name, "step": step, **row}
                for name, steps in doc.get("steps", {}).items()
                for step, row in steps.items()
            ),
            # a run written before these were computed has none of them
            overfitting=_read(Overfitting, doc.get("overfitting")),
            stepm=_read(StepM, doc.get("stepm")),
            confidence_set=_read(ConfidenceSet, doc.get("mcs")),
            track_records={
                str(n): TrackRecord.from_dict(t)
                for n, t in (doc.get("track_records") or {}).items()
            },
        )


STRATEGY_TEST_COLUMNS = (
    "sharpe",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "diff_p_value",
    "diff_days",
    "dsr",
    "dsr_sr0_annual",
    "dsr_n_trials",
    "breakeven",
    "breakeven_bps",
    "breakeven_low",
    "breakeven_high",
    "breakeven_approx_bps",
    "breakeven_return",
    "breakeven_return_bps",
)
FORECAST_TEST_COLUMNS = (
    "dm_stat",
    "dm_p",
    "dm_p_better",
    "dm_abs_stat",
    "dm_abs_p",
    "dm_abs_p_better",
    "loss_ratio",
    "pt_stat",
    "pt_p",
    "pt_hit_rate",
    "ic",
    "ic_low",
    "ic_high",
    "lag_corr",
    "echo",
    *LEAK_COLUMNS,
)


def forecast_test_row(
    dm_sq: Mapping,
    dm_abs: Mapping,
    pt: Mapping,
    ic: Mapping,
    lag: Mapping,
    leaks: Mapping | None = None,
) -> dict[str, Any]:
    """One row of `Metrics.forecast_tests` from the significance functions' results.

    dm_p and dm_abs_p are two-sided; dm_p_better and dm_abs_p_better one-sided, for "the
    forecast's loss is lower than the random walk's"; loss_ratio is the forecast's mean
    squared error over the random walk's. A DM result without a one-sided p-value (an older
    metrics.json) gets it from its two-sided one and the sign of its statistic (the t
    distribution is symmetric). The leak columns are lstmbt.study.leaks.COLUMNS."""
    leaks = leaks or {}
    return {
        "dm_stat": dm_sq.get("stat"),
        "dm_p": dm_sq.get("p_value"),
        "dm_p_better": _p_better(dm_sq),
        "dm_abs_stat": dm_abs.get("stat"),
        "dm_abs_p": dm_abs.get("p_value"),
        "dm_abs_p_better": _p_better(dm_abs),
        "loss_ratio": dm_sq.get("loss_ratio"),
        "pt_stat": pt.get("stat"),
        "pt_p": pt.get("p_value"),
        "pt_hit_rate": pt.get("hit_rate"),
        "ic": ic.get("ic"),
        "ic_low": ic.get("ci_low"),
        "ic_high": ic.get("ci_high"),
        "lag_corr": list(lag.get("corr_by_lag", [])),
        "echo": bool(lag.get("echo", False)),
        **{k: leaks.get(k) for k in LEAK_COLUMNS},
        # an older run's flags came from fixed thresholds that fired on honest forecasts
        "leak": bool(leaks.get("leak", False)) and leaks.get("p_leak") is not None,
        "implausible": bool(leaks.get("implausible", False)),
    }


def _p_better(dm: Mapping) -> float | None:
    """The one-sided DM p-value (H1: the forecast's loss is lower) of a DM result."""
    if dm.get("p_better") is not None:
        return dm["p_better"]
    stat, p = dm.get("stat"), dm.get("p_value")
    if stat is None or p is None:
        return None
    if stat == 0:
        return p  # identical forecasts: 1, never a claim
    return p / 2 if stat < 0 else 1 - p / 2


def _loss_ratio(forecast: pd.DataFrame, name: str) -> float | None:
    """MSE of `name` over the random walk's, from the forecast table's RMSEs (same days)."""
    if "rmse" not in forecast.columns or not {name, "random_walk"} <= set(forecast.index):
        return None
    rmse, rw = _clean(forecast.at[name, "rmse"]), _clean(forecast.at["random_walk", "rmse"])
    return None if rmse is None or not rw else (rmse / rw) ** 2


def seed_stats(values: list[float | None]) -> dict[str, Any]:
    """Mean and standard deviation (ddof 1) of the seeds' values that could be computed."""
    clean = [_clean(v) for v in values]
    vals = np.array([v for v in clean if v is not None], dtype=float)
    return {
        "mean": float(vals.mean()) if len(vals) else None,
        "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
        "values": clean,
    }


def seed_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["name", "seed", *SEED_KEYS])
    return frame.set_index(["name", "seed"])


def fold_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["fold", "test_start", "test_end", "days"])
    return frame.set_index("fold")


def _sweep_table(sharpes: Mapping[str, list], bps: list[float]) -> pd.DataFrame:
    """The cost sweep: index bps per side, one column of Sharpe ratios per strategy."""
    frame = pd.DataFrame(
        {n: [np.nan if v is None else v for v in vals] for n, vals in sharpes.items()},
        index=pd.Index(np.asarray(bps, dtype=np.float64), name="bps"),
        dtype=np.float64,
    )
    return frame


def step_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """`Metrics.steps`: index (name, step); columns STEP_COLUMNS (None -> NaN)."""
    frame = pd.DataFrame(
        [{k: np.nan if v is None else v for k, v in r.items()} for r in rows],
        columns=["name", "step", *STEP_COLUMNS],
    )
    return frame.set_index(["name", "step"])


def fold_score_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["fold", "name", "total_return", "rmse", "hit_rate"])
    return frame.set_index(["fold", "name"])


def _read(kind, doc: Mapping[str, Any] | None):
    """`kind.from_dict(doc)`, or None where metrics.json has no such entry."""
    return None if not doc else kind.from_dict(doc)


def _verdict(value: Verdict | Iterable[str]) -> Verdict:
    """A Verdict, also from the plain sentences a caller may have set."""
    return value if isinstance(value, Verdict) else Verdict((), tuple(str(v) for v in value))


def _frame(rows: Mapping[str, Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """A table indexed by name; a value that could not be computed (None) is NaN."""
    frame = pd.DataFrame.from_dict(
        {n: {c: r.get(c) for c in columns} for n, r in rows.items()}, orient="index"
    )
    if frame.empty:
        return pd.DataFrame(columns=list(columns))
    return frame.reindex(columns=list(columns))


def _rows(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {name: {c: _clean(row[c], c) for c in frame.columns} for name, row in frame.iterrows()}


def _clean(value: Any, column: str | None = None) -> Any:
    """A JSON-ready cell: NaN/inf/None -> None, numpy scalars -> Python, counts -> int."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (list, tuple, dict, str, bool, np.bool_)):
        return bool(value) if isinstance(value, np.bool_) else value
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None
        return int(x) if column in _INTS else x
    return value
