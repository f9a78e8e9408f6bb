"""Is the edge real? Forecast tests (Diebold-Mariano, Pesaran-Timmermann, IC), bootstrap Sharpe
intervals, Hansen's SPA against buy-and-hold, deflated Sharpe ratios and a lag (echo) check.

Conventions: daily data; one Sharpe ratio (`sharpe`, annualised with sqrt(TRADING_DAYS), the
trading-day count of lstmbt.strategies.costs); p-values two-sided unless the test is one-sided
by construction (PT: better than chance; SPA: better than the benchmark; DM's `p_better`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from lstmbt.strategies.costs import TRADING_DAYS  # the one trading-day count (re-exported)

EULER_GAMMA = 0.5772156649015329
EQUAL_TOL = 1e-12  # daily returns closer than this on every day are the same strategy
MIN_DIFFERENT_DAYS = 20  # a strategy differing from the benchmark on fewer days is not tested
ZERO_VOL = 1e-12  # daily standard deviation below which returns are constant (float noise)


def finite_or_none(x: float | None) -> float | None:
    """JSON-friendly float: NaN/inf -> None (rendered as '-')."""
    return None if x is None or not math.isfinite(x) else float(x)


def _equal_columns(returns: pd.DataFrame, tol: float = EQUAL_TOL) -> dict[str, str]:
    """Columns whose returns equal an earlier column's within `tol` on every day -> that column.

    The first column of each group is its representative; a column listed here adds no
    information (SPA, the deflated Sharpe's trial count) beyond the one it maps to.
    """
    R = returns.to_numpy(float)
    names = list(returns.columns)
    kept: list[int] = []
    same: dict[str, str] = {}
    for j in range(R.shape[1]):
        match = next((k for k in kept if np.all(np.abs(R[:, j] - R[:, k]) <= tol)), None)
        if match is None:
            kept.append(j)
        else:
            same[names[j]] = names[match]
    return same


def _days_different(a: np.ndarray, b: np.ndarray, tol: float = EQUAL_TOL) -> int:
    """Number of days on which two daily return series differ by more than `tol`."""
    return int(np.sum(~(np.abs(np.asarray(a, float) - np.asarray(b, float)) <= tol)))


def distinct_trials(trial_returns: pd.DataFrame, tol: float = EQUAL_TOL) -> pd.DataFrame:
    """The trials (one daily return column each) with exact duplicates dropped.

    A configuration whose returns equal another's (a baseline always long like buy-and-hold, an
    ensemble of one seed) is one trial, not two: its column count is what `deflated_sharpe`
    should be given as the number of trials, e.g.
    `deflated_sharpe(r, sharpe(distinct_trials(frame).to_numpy(), axis=0) / sqrt(TRADING_DAYS))`.
    """
    return trial_returns.drop(columns=list(_equal_columns(trial_returns, tol)))


def diebold_mariano(
    e_model: np.ndarray, e_bench: np.ndarray, loss: str = "squared", horizon: int = 1
) -> dict[str, float | None]:
    """DM test of equal accuracy with the Harvey-Leybourne-Newbold small-sample correction.

    Negative statistic: the model's loss is lower than the benchmark's. `p_value` is
    two-sided (either is more accurate); `p_better` one-sided, for "the model's expected loss
    is lower" (small only when the model is the more accurate one); `loss_ratio` is the
    model's mean loss over the benchmark's. Identical forecasts (a loss differential that is
    zero on every day) give statistic 0 and both p-values 1, never a claim.
    """
    f = {"squared": np.square, "absolute": np.abs}[loss]
    l_model, l_bench = f(np.asarray(e_model, float)), f(np.asarray(e_bench, float))
    d = l_model - l_bench
    n = len(d)
    bench_loss = float(np.mean(l_bench)) if n else math.nan
    ratio = finite_or_none(float(np.mean(l_model)) / bench_loss) if bench_loss > 0 else None
    dc = d - d.mean()
    lrv = np.dot(dc, dc) / n
    for lag in range(1, horizon):
        lrv += 2 * (1 - lag / horizon) * np.dot(dc[lag:], dc[:-lag]) / n
    if not lrv > 1e-300:
        same = bool(np.allclose(d, 0))
        return {
            "stat": 0.0 if same else None,
            "p_value": 1.0 if same else None,
            "p_better": 1.0 if same else None,
            "loss_ratio": ratio,
        }
    dm = d.mean() / math.sqrt(lrv / n)
    hln = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    stat = dm * hln
    return {
        "stat": finite_or_none(stat),
        "p_value": finite_or_none(2 * stats.t.sf(abs(stat), df=n - 1)),
        "p_better": finite_or_none(stats.t.cdf(stat, df=n - 1)),
        "loss_ratio": ratio,
    }


def pesaran_timmermann(forecast: np.ndarray, realised: np.ndarray) -> dict[str, float | None]:
    """PT (1992) test that the forecast's direction beats chance (one-sided p-value).

    A forecast that never changes direction (always up, or never up: a constant or zero
    forecast) makes no directional call to test: statistic and p-value are None, never a claim.
    """
    f, r = np.asarray(forecast, float), np.asarray(realised, float)
    n = len(f)
    x, y = f > 0, r > 0
    p_hit = np.mean(x == y)
    if x.all() or not x.any() or y.all() or not y.any():
        return {"stat": None, "p_value": None, "hit_rate": finite_or_none(p_hit)}
    px, py = x.mean(), y.mean()
    p_star = py * px + (1 - py) * (1 - px)
    var_p = p_star * (1 - p_star) / n
    var_star = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    denom = var_p - var_star
    if not denom > 0:
        return {"stat": None, "p_value": None, "hit_rate": finite_or_none(p_hit)}
    stat = (p_hit - p_star) / math.sqrt(denom)
    return {
        "stat": finite_or_none(stat),
        "p_value": finite_or_none(stats.norm.sf(stat)),
        "hit_rate": finite_or_none(p_hit),
    }


def information_coefficient(
    forecast: np.ndarray, realised: np.ndarray, level: float = 0.95
) -> dict:
    """Spearman rank IC with a Fisher-z interval (Bonett-Wright variance 1.06/(n-3))."""
    f, r = np.asarray(forecast, float), np.asarray(realised, float)
    n = len(f)
    if np.ptp(f) == 0 or np.ptp(r) == 0 or n < 10:
        return {"ic": None, "ci_low": None, "ci_high": None}
    rho = float(stats.spearmanr(f, r).statistic)
    z = math.atanh(max(min(rho, 0.999999), -0.999999))
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(1.06 / (n - 3))
    return {"ic": rho, "ci_low": math.tanh(z - half), "ci_high": math.tanh(z + half)}


def lag_check(forecast: pd.Series, known_returns: pd.Series, lags: int = 5) -> dict:
    """Correlation of the forecast at t with the returns known at t, t-1, ... (an echo test).

    A forecaster that mostly repeats today's change (|corr at lag 0| >= 0.8) is flagged.
    """
    f = forecast.to_numpy(float)
    corrs = []
    for lag in range(lags + 1):
        r = known_returns.shift(lag).reindex(forecast.index).to_numpy(float)
        ok = np.isfinite(r)
        c = np.corrcoef(f[ok], r[ok])[0, 1] if np.ptp(f[ok]) > 0 and np.ptp(r[ok]) > 0 else np.nan
        corrs.append(finite_or_none(c))
    lag0 = corrs[0]
    return {"corr_by_lag": corrs, "echo": bool(lag0 is not None and abs(lag0) >= 0.8)}


def sharpe_of(mean: np.ndarray | float, sd: np.ndarray | float) -> np.ndarray:
    """The annualised Sharpe ratio of daily returns with this mean and standard deviation:
    mean / sd * sqrt(TRADING_DAYS); NaN where sd is not above ZERO_VOL (float rounding, not
    risk: cash earning exactly the cash rate leaves excess returns of ~1e-19)."""
    mean, sd = np.asarray(mean, float), np.asarray(sd, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > ZERO_VOL, mean / sd * math.sqrt(TRADING_DAYS), np.nan)


def sharpe(
    returns: np.ndarray, axis: int = -1, *, skipna: bool = False, flat: float = math.nan
) -> np.ndarray:
    """The Sharpe ratio of lstmbt, annualised, along `axis` of daily returns (excess returns
    over the cash rate, where the caller has subtracted them; standard deviation with ddof 1).

    `skipna`: ignore NaN days (a ticker's days outside its span). `flat`: the value where the
    returns do not vary (zero volatility; fewer than two days stay NaN): NaN, undefined, by
    default; 0 where the returns are excess returns and zero volatility means holding cash,
    which earns exactly the cash rate."""
    r = np.asarray(returns, float)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, handled below
        if skipna:
            count = np.sum(np.isfinite(r), axis=axis)
            mu, sd = np.nanmean(r, axis=axis), np.nanstd(r, axis=axis, ddof=1)
        else:
            count = np.full(np.shape(r.mean(axis=axis)), r.shape[axis] if r.ndim else 1)
            mu, sd = r.mean(axis=axis), r.std(axis=axis, ddof=1)
    out = sharpe_of(mu, sd)
    if not math.isnan(flat):
        out = np.where((count >= 2) & np.isfinite(sd) & ~(sd > ZERO_VOL), flat, out)
    return out


def stationary_bootstrap_indices(n: int, reps: int, block: float, seed: int) -> np.ndarray:
    """(reps, n) indices of Politis-Romano stationary bootstrap samples (mean block `block`)."""
    rng = np.random.default_rng(seed)
    new_block = rng.random((reps, n)) < 1.0 / block
    new_block[:, 0] = True
    starts = rng.integers(0, n, size=(reps, n))
    t = np.broadcast_to(np.arange(n), (reps, n))
    last = np.maximum.accumulate(np.where(new_block, t, 0), axis=1)
    start_of_block = np.take_along_axis(starts, last, axis=1)
    return (start_of_block + (t - last)) % n


def bootstrap_sharpe(
    returns: pd.DataFrame,
    benchmark: str,
    *,
    reps: int = 1000,
    block: float = 20.0,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict]:
    """Block-bootstrap intervals of each column's Sharpe and of its difference to `benchmark`.

    All columns are resampled with the same indices, so the difference keeps their correlation.
    The p-value of the difference is two-sided: 2 * min(P(diff* <= 0), P(diff* >= 0)).

    `diff_days` counts the days a column's return differs from the benchmark's (beyond 1e-12).
    An exact copy of the benchmark (0 days) has difference 0, interval [0, 0] and p = 1; a
    column that differs on fewer than MIN_DIFFERENT_DAYS days gets no interval and no p-value
    for the difference (a handful of days decides its sign and the bootstrap would call that
    significant).
    """
    R = returns.to_numpy(float)
    idx = stationary_bootstrap_indices(len(R), reps, block, seed)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    bench_col = list(returns.columns).index(benchmark)
    bench_boot = sharpe(R[:, bench_col][idx])
    out = {}
    for j, name in enumerate(returns.columns):
        boot = sharpe(R[:, j][idx])
        point = float(sharpe(R[:, j]))
        row = {"sharpe": finite_or_none(point)}
        if np.isfinite(boot).mean() < 0.9:
            row.update(ci_low=None, ci_high=None)
        else:
            row.update(
                ci_low=finite_or_none(np.nanpercentile(boot, lo)),
                ci_high=finite_or_none(np.nanpercentile(boot, hi)),
            )
        if name != benchmark:
            diff = boot - bench_boot
            ok = np.isfinite(diff)
            row["diff_days"] = _days_different(R[:, j], R[:, bench_col])
            if row["diff_days"] == 0:
                row.update(diff=0.0, diff_ci_low=0.0, diff_ci_high=0.0, diff_p_value=1.0)
            elif ok.mean() < 0.9:
                row.update(diff=None, diff_ci_low=None, diff_ci_high=None, diff_p_value=None)
            elif row["diff_days"] < MIN_DIFFERENT_DAYS:
                d0 = point - float(sharpe(R[:, bench_col]))
                row.update(diff=finite_or_none(d0), diff_ci_low=None, diff_ci_high=None)
                row.update(diff_p_value=None)
            else:
                d = diff[ok]
                p = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
                row.update(
                    diff=finite_or_none(point - float(sharpe(R[:, bench_col]))),
                    diff_ci_low=finite_or_none(np.percentile(d, lo)),
                    diff_ci_high=finite_or_none(np.percentile(d, hi)),
                    diff_p_value=finite_or_none(p),
                )
        out[name] = row
    return out


def spa_columns(returns: pd.DataFrame, benchmark: str) -> dict:
    """Which strategies SPA can test as separate models, and why the others are not tested.

    A strategy whose returns equal the benchmark's within EQUAL_TOL on every day is the
    benchmark (its loss differential is identically zero, and arch's SPA turns such a column
    into a spurious rejection): it is merged into the benchmark. Strategies equal to each other
    are tested once, under the first name. A strategy that never holds a position, or differs
    from the benchmark on fewer than MIN_DIFFERENT_DAYS days, is left out with the reason.
    """
    bench = returns[benchmark].to_numpy(float)
    merged: dict[str, str] = {}
    left_out: dict[str, str] = {}
    notes: list[str] = []
    same = _equal_columns(returns[[benchmark] + [c for c in returns.columns if c != benchmark]])
    for name, into in same.items():
        merged[name] = into
        if into == benchmark:
            notes.append(
                f"{name} has the same daily returns as {benchmark} on every day: it is "
                f"{benchmark} itself, so SPA does not test it as a separate strategy."
            )
        else:
            notes.append(
                f"{name} has the same daily returns as {into} on every day: SPA counts them "
                f"as one strategy, {into}."
            )
    tested = []
    for name in returns.columns:
        if name == benchmark or name in merged:
            continue
        r = returns[name].to_numpy(float)
        k = _days_different(r, bench)
        if not np.std(r) > 0:
            left_out[name] = "never held a position (its return is the same every day)"
        elif k < MIN_DIFFERENT_DAYS:
            left_out[name] = (
                f"differs from {benchmark} on only {k} of {len(r)} days "
                f"(fewer than {MIN_DIFFERENT_DAYS}), too few to test"
            )
        else:
            tested.append(name)
            continue
        notes.append(f"{name} is left out of SPA: it {left_out[name]}.")
    return {"tested": tested, "merged": merged, "left_out": left_out, "notes": notes}


def spa_test(
    returns: pd.DataFrame, benchmark: str, *, reps: int = 1000, block: int = 20, seed: int = 0
) -> dict:
    """Hansen's SPA (arch.bootstrap.SPA): does any strategy beat `benchmark`? (loss: -return)

    The null hypothesis is that no strategy beats the benchmark. Only the strategies that
    `spa_columns` keeps are tested; "merged", "left_out" and "notes" say what happened to the
    others, in words a report can print.
    """
    from arch.bootstrap import SPA

    cols = spa_columns(returns, benchmark)
    keep = cols.pop("tested")
    out = {"p_lower": None, "p_consistent": None, "p_upper": None, "n_strategies": len(keep)}
    if not keep:
        cols["notes"].append(
            f"no strategy differs from {benchmark} on {MIN_DIFFERENT_DAYS} days or more: "
            "SPA has nothing to test."
        )
        return {**out, "tested": [], **cols}
    spa = SPA(
        -returns[benchmark].to_numpy(),
        -returns[keep].to_numpy(),
        block_size=block,
        reps=reps,
        seed=seed,
    )
    spa.compute()
    pv = spa.pvalues
    out.update(
        p_lower=finite_or_none(pv["lower"]),
        p_consistent=finite_or_none(pv["consistent"]),
        p_upper=finite_or_none(pv["upper"]),
    )
    return {**out, "tested": keep, **cols}


def probabilistic_sharpe(returns: np.ndarray, sr_benchmark: float = 0.0) -> float | None:
    """Bailey & Lopez de Prado's PSR: Phi of the z-statistic of Sharpe - sr_benchmark given
    skew and kurtosis, i.e. 1 - the one-sided p-value of "true Sharpe <= sr_benchmark" (called
    "the probability that the true Sharpe ratio exceeds it" in the paper; it is not one)."""
    r = np.asarray(returns, float)
    n = len(r)
    if n < 10 or not np.isfinite(sharpe(r)):
        return None
    sr = float(sharpe(r)) / math.sqrt(TRADING_DAYS)  # per day
    skew = stats.skew(r)
    kurt = stats.kurtosis(r, fisher=False)
    denom = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    if not denom > 0:
        return None
    return finite_or_none(stats.norm.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(denom)))


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray, extra_trials: int = 0) -> dict:
    """Deflated Sharpe: PSR against the best Sharpe expected from the null trials.

    `trial_sharpes` are the per-period Sharpe ratios of every configuration tried (seeds,
    presets, baselines); their spread sets the bar that luck alone would clear.
    `extra_trials` counts variants tried elsewhere whose Sharpe ratios are unknown (a judged
    forecast's `--trials N`): they raise the count, the spread comes from the known ones.
    """
    trials = np.asarray([s for s in trial_sharpes if np.isfinite(s)], float)
    n_trials = len(trials) + max(int(extra_trials), 0)
    if len(trials) < 2 or n_trials < 2:
        return {"dsr": probabilistic_sharpe(returns, 0.0), "sr0_annual": 0.0, "n_trials": n_trials}
    var = trials.var(ddof=1)
    z1 = stats.norm.ppf(1 - 1 / n_trials)
    z2 = stats.norm.ppf(1 - 1 / (n_trials * math.e))
    sr0 = math.sqrt(var) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)
    return {
        "dsr": probabilistic_sharpe(returns, sr0),
        "sr0_annual": finite_or_none(sr0 * math.sqrt(TRADING_DAYS)),
        "n_trials": n_trials,
    }
