"""Speed benchmarks, measured in one run and printed as ratios (never asserted in tests).

    python benchmarks/run.py            # everything, including the default walk-forward study
    python benchmarks/run.py --quick    # skip the end-to-end study
    python benchmarks/run.py --study    # only `lstmbt study`, cold vs warm-started folds

Figures: LSTM training samples/s and the share of this machine's float32 matmul FLOP/s it
reaches; our training loop vs a DataLoader-per-item loop on the same model and data, with the
most any loop could gain (Amdahl bound); seeds packed in one network vs one by one; backtest
bars/s for Backtrader, the vectorised twin and plain numpy on the same positions; the
end-to-end wall time of `lstmbt study` with cold- and warm-started folds (their ratio).
vectorbt and backtesting.py are not dependencies and are not measured here (the brief's
anchors for them are quoted in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lstmbt import _runtime  # noqa: E402
from lstmbt.data import load_one  # noqa: E402
from lstmbt.features.returns import adjusted_ohlcv  # noqa: E402
from lstmbt.models import LSTMForecaster, fit_seeds  # noqa: E402
from lstmbt.models.lstm import LSTMNet  # noqa: E402
from lstmbt.models.training import train_regressor  # noqa: E402
from lstmbt.strategies import Costs, positions_from_forecast, run_backtrader, vectorised_returns  # noqa: E402
from lstmbt.strategies.vectorised import twin_returns  # noqa: E402

COSTS = Costs()
EVERY_COST = Costs(half_spread=0.0002, min_fee=1.0, borrow_fee=0.01)  # + 3% a year on cash


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_flops(n: int = 1024, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n**3 / best_of(lambda: a @ b, repeat)


def lstm_flops_per_sample(lookback: int, n_in: int, hidden: int, layers: int) -> float:
    """Forward: 4 gates x (input + hidden) x hidden multiply-adds per step and layer; x3 for
    forward + backward (the usual training estimate)."""
    fwd = 0
    for layer in range(layers):
        width = n_in if layer == 0 else hidden
        fwd += lookback * 2 * 4 * hidden * (width + hidden)
    return 3.0 * fwd


def dataloader_epoch(net, X, y, batch, lr, seed):
    """The straightforward way: a Dataset that returns one window per __getitem__."""
    from torch.utils.data import DataLoader, Dataset

    class Windows(Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return torch.from_numpy(X[i]), torch.from_numpy(y[i])

    loader = DataLoader(
        Windows(), batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    net.train()
    for xb, yb in loader:
        opt.zero_grad()
        loss_fn(net(xb), yb).backward()
        opt.step()


def bench_training(lookback=60, n_in=16, hidden=64, layers=2, n=5000, epochs=2, batch=256):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, lookback, n_in)).astype(np.float32)
    y = rng.normal(size=(n, 1)).astype(np.float32)
    dev = torch.device("cpu")

    def ours():
        torch.manual_seed(0)
        net = LSTMNet(n_in, hidden, layers, 0.0, 1)
        train_regressor(
            net,
            X,
            y,
            None,
            None,
            epochs=epochs,
            batch_size=batch,
            lr=1e-3,
            patience=99,
            seed=0,
            device=dev,
        )

    def naive():
        torch.manual_seed(0)
        net = LSTMNet(n_in, hidden, layers, 0.0, 1)
        for e in range(epochs):
            dataloader_epoch(net, X, y, batch, 1e-3, e)

    t_ours, t_naive = best_of(ours, 2), best_of(naive, 2)
    sps = n * epochs / t_ours
    return {
        "shape": f"window {lookback}, {n_in} inputs, hidden {hidden} x {layers}, batch {batch}",
        "ours_sps": sps,
        "naive_sps": n * epochs / t_naive,
        "flops_per_sample": lstm_flops_per_sample(lookback, n_in, hidden, layers),
    }


def bench_seeds(lookback, n_in, hidden, layers, seeds=5, n=3000, epochs=2, batch=256):
    """`fit_seeds` (one packed network) vs one `fit` per seed, 1 thread, samples/s over all
    seeds (the study runs one thread per process)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, lookback, n_in)).astype(np.float32)
    y = rng.normal(size=(n, 1))
    params = dict(
        hidden_size=hidden, num_layers=layers, epochs=epochs, patience=99, batch_size=batch,
        device="cpu",
    )  # fmt: skip
    seed_list = list(range(seeds))

    def packed():
        fit_seeds(LSTMForecaster(**params), seed_list, X, y)

    def one_by_one():
        for s in seed_list:
            LSTMForecaster(**params, seed=s).fit(X, y)

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work = seeds * n * epochs
        return work / best_of(packed, 2), work / best_of(one_by_one, 2)
    finally:
        torch.set_num_threads(before)


def kernel_share(lookback, n_in, hidden, layers, n=5000, batch=256) -> float:
    """Share of the DataLoader loop's time spent inside torch's LSTM forward/backward kernels.
    Any loop running the same kernels is at most 1 / share times faster (Amdahl). Kernel time
    comes from a profiled epoch (long kernels, little profiler overhead); the loop's time from
    an unprofiled one."""
    from torch.profiler import ProfilerActivity, profile

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, lookback, n_in)).astype(np.float32)
    y = rng.normal(size=(n, 1)).astype(np.float32)
    torch.manual_seed(0)
    net = LSTMNet(n_in, hidden, layers, 0.0, 1)
    dataloader_epoch(net, X, y, batch, 1e-3, 0)
    total = best_of(lambda: dataloader_epoch(net, X, y, batch, 1e-3, 1), 2)
    saved = os.dup(2)  # the profiler's C++ side prints start/stop lines on stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            dataloader_epoch(net, X, y, batch, 1e-3, 1)
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    lstm = sum(
        e.self_cpu_time_total for e in prof.key_averages() if "rnn" in e.key or "lstm" in e.key
    )
    return min(1.0, lstm / 1e6 / total)


def numpy_plain(open_, close, pos, cost):
    """The simplest vectorised backtest: held position x open-to-open return, cost per change."""
    held = np.concatenate([[0.0], pos[:-1]])
    r = np.empty_like(open_)
    r[:-1] = open_[1:] / open_[:-1] - 1.0
    r[-1] = 0.0
    turnover = np.abs(np.diff(np.concatenate([[0.0], held])))
    return held * r - turnover * cost


def smooth_positions(index: pd.DatetimeIndex, rng, phi: float, threshold: float) -> pd.Series:
    """Positions from AR(1) noise: phi sets how often they flip (0 = like a noisy ridge model,
    0.8 = like the lookback LSTM's ~20% of days)."""
    from scipy.signal import lfilter

    noise = lfilter([1.0], [1.0, -phi], rng.normal(size=len(index)))
    return positions_from_forecast(pd.Series(noise, index=index), threshold)


def numpy_plain_2d(o, P):
    """`numpy_plain` for (days, series) positions at once."""
    held = np.vstack([np.zeros((1, P.shape[1])), P[:-1]])
    r = np.zeros_like(held)
    r[:-1] = o[1:, None] / o[:-1, None] - 1.0
    return held * r - np.abs(np.diff(np.vstack([np.zeros((1, P.shape[1])), held]), axis=0)) * 0.001


def bench_backtests(px: pd.DataFrame):
    """Bars/s on the same positions: Backtrader, the twin (its array core, and with its
    pandas wrapper), plain numpy; then 200 series at once for three flip rates."""
    index = px.index
    rng = np.random.default_rng(0)
    pos = positions_from_forecast(pd.Series(rng.normal(size=len(index)), index=index), 0.3)
    n = len(index)
    o, c, p = px["open"].to_numpy(), px["close"].to_numpy(), pos.to_numpy()
    out = {"bars": n, "flip_rate": float((np.diff(p) != 0).mean())}
    out["backtrader"] = n / best_of(lambda: run_backtrader(px, pos, COSTS), 3)
    out["twin_pandas"] = n / best_of(lambda: vectorised_returns(px, pos, COSTS), 50)
    out["twin"] = n / best_of(lambda: twin_returns(o, c, p[None, :], COSTS), 200)
    out["numpy"] = n / best_of(lambda: numpy_plain(o, c, p, 0.001), 200)
    daily = np.full(n, 0.03 / 252)
    daily[0] = 0.0
    no_min = Costs(half_spread=0.0002, borrow_fee=0.01)
    out["twin_accruing"] = n / best_of(lambda: twin_returns(o, c, p[None, :], no_min, daily), 100)
    out["twin_every_cost"] = n / best_of(
        lambda: twin_returns(o, c, p[None, :], EVERY_COST, daily), 20
    )
    out["many"] = []
    for label, phi, threshold in (
        ("random, like ridge", None, 0.3),
        ("AR(1) 0.8, like the lookback LSTM", 0.8, 0.0),
        ("AR(1) 0.95, slow signal", 0.95, 0.0),
    ):
        cols = {}
        for i in range(200):
            if phi is None:
                f = pd.Series(rng.normal(size=n), index=index)
                cols[f"s{i}"] = positions_from_forecast(f, threshold)
            else:
                cols[f"s{i}"] = smooth_positions(index, rng, phi, threshold)
        many = pd.DataFrame(cols)
        P = many.to_numpy()
        grid = np.ascontiguousarray(P.T)
        out["many"].append(
            {
                "label": label,
                "flip_rate": float((np.diff(P, axis=0) != 0).mean()),
                "twin": 200 * n / best_of(lambda g=grid: twin_returns(o, c, g, COSTS), 10),
                "twin_pandas": 200
                * n
                / best_of(lambda f=many: vectorised_returns(px, f, COSTS), 5),
                "numpy": 200 * n / best_of(lambda q=P: numpy_plain_2d(o, q), 10),
            }
        )
    return out


def bench_study() -> dict:
    """`lstmbt study` as a user runs it (a fresh process, the report and tear-sheets written),
    with cold-started folds and with warm-started ones (the default), one after the other."""
    from warm_start import lstmbt_study  # benchmarks/warm_start.py

    with tempfile.TemporaryDirectory() as out:
        cold = lstmbt_study(Path(out), "cold", "--no-warm-start")
        warm = lstmbt_study(Path(out), "warm")
        folds = json.loads((Path(out) / "warm" / "metrics.json").read_text())["span"]["folds"]
    return {"cold": cold, "warm": warm, "folds": folds, "fits": 3 * 5 * folds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the end-to-end study")
    parser.add_argument("--study", action="store_true", help="only the end-to-end study")
    args = parser.parse_args()
    if args.study:
        return report_study(bench_study())
    _runtime.start()  # what the CLI does: malloc tuning (CPU training), quiet third parties
    print(
        f"lstmbt benchmarks  {time.strftime('%Y-%m-%d')}  {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, pandas {pd.__version__}"
    )
    flops = matmul_flops()
    print(f"\nfloat32 matmul (1024x1024): {flops / 1e9:.1f} GFLOP/s")
    shapes = [  # (lookback, inputs, hidden, layers): the presets' shapes, then the Darts anchor
        (1, 1, 32, 1),
        (30, 1, 32, 1),
        (30, 29, 32, 2),
        (60, 16, 64, 2),
    ]
    print("\nLSTM training on CPU, samples/s (5,000 windows, batch 256, 2 epochs, best of 2)")
    print(
        f"  {'window x inputs, hidden x layers':<34}{'our loop':>10}{'DataLoader':>12}"
        f"{'speed-up':>10}{'bound':>8}{'MFLOP/sample':>14}{'% of matmul':>13}"
    )
    for lookback, n_in, hidden, layers in shapes:
        tr = bench_training(lookback, n_in, hidden, layers)
        bound = 1.0 / kernel_share(lookback, n_in, hidden, layers)
        achieved = tr["ours_sps"] * tr["flops_per_sample"]
        label = f"{lookback} x {n_in}, {hidden} x {layers}"
        print(
            f"  {label:<34}{tr['ours_sps']:>10,.0f}{tr['naive_sps']:>12,.0f}"
            f"{tr['ours_sps'] / tr['naive_sps']:>9.1f}x{bound:>7.1f}x"
            f"{tr['flops_per_sample'] / 1e6:>14.2f}{achieved / flops:>13.0%}"
        )
    print("  bound: 1 / (share of the DataLoader loop's time inside torch's LSTM kernels)")
    print("\n5 seeds, 1 thread, samples/s over all seeds: packed in one network vs one by one")
    for lookback, n_in, hidden, layers in shapes[:3]:
        packed, alone = bench_seeds(lookback, n_in, hidden, layers)
        label = f"{lookback} x {n_in}, {hidden} x {layers}"
        print(
            f"  {label:<34}packed {packed:>10,.0f}   one by one {alone:>10,.0f}"
            f"   packed/one-by-one {packed / alone:.2f}x"
        )
    px = adjusted_ohlcv(load_one("^GSPC", "sample"))
    bt = bench_backtests(px)
    print(
        f"\nBacktests on the S&P 500 sample ({bt['bars']:,} bars, same positions flipping on "
        f"{bt['flip_rate']:.0%} of days, 5+5 bps costs)"
    )
    print(f"  Backtrader:                 {bt['backtrader']:>14,.0f} bars/s")
    print(
        f"  twin, arrays:               {bt['twin']:>14,.0f} bars/s  "
        f"({bt['twin'] / bt['backtrader']:,.0f}x Backtrader, "
        f"{bt['numpy'] / bt['twin']:.1f}x slower than plain numpy)"
    )
    print(f"  twin, pandas in and out:    {bt['twin_pandas']:>14,.0f} bars/s")
    print(
        f"  twin, interest on cash and a borrowing fee: {bt['twin_accruing']:>14,.0f} bars/s"
        f"; with a minimum fee too: {bt['twin_every_cost']:>12,.0f} bars/s"
    )
    print(f"  plain numpy (no sizing):    {bt['numpy']:>14,.0f} bars/s")
    print("  200 series at once, bars/s:")
    for row in bt["many"]:
        print(
            f"    {row['label']:<36} flips {row['flip_rate']:>4.0%}  twin {row['twin']:>13,.0f}"
            f"  (pandas {row['twin_pandas']:>13,.0f})  numpy {row['numpy']:>13,.0f}"
            f"  twin is {row['numpy'] / row['twin']:.1f}x slower"
        )
    print("  vectorbt / backtesting.py: not measured (not dependencies); see README anchors")
    if not args.quick:
        report_study(bench_study())


def report_study(st: dict) -> None:
    print(
        f"\n`lstmbt study` (3 presets x 5 seeds x {st['folds']} yearly folds = {st['fits']} "
        f"LSTM fits, baselines, Backtrader runs, significance tests, report and tear-sheets): "
        f"cold-started folds {st['cold']:.1f} s, warm-started (the default) {st['warm']:.1f} s "
        f"wall; warm / cold = {st['warm'] / st['cold']:.2f} (load average "
        f"{os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
