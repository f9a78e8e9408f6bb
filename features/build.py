"""Feature matrix for one target ticker: its own groups plus companions' groups, warm-up dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from lstmbt.features.cross_asset import align_companion
from lstmbt.features.indicators import compute_group
from lstmbt.features.returns import adjusted_ohlcv


@dataclass(frozen=True)
class FeatureMatrix:
    """Causal features (rows: dates at whose close they are known) and what was dropped."""

    frame: pd.DataFrame
    warmup_dropped: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return list(self.frame.columns)


def build_features(
    prices: pd.DataFrame,
    groups: list[str] | tuple[str, ...],
    companions: dict[str, pd.DataFrame] | None = None,
    companion_groups: list[str] | tuple[str, ...] = ("returns",),
    *,
    max_stale: int = 5,
) -> FeatureMatrix:
    """Compute `groups` on the target and `companion_groups` on each companion, then drop warm-up.

    Leading rows where any feature is still warming up are dropped (not zero-filled). A NaN after
    the warm-up (e.g. a stale companion) is an error: no silent filling.
    """
    if not groups:
        raise ValueError("no feature groups chosen; pick at least one, e.g. close_change.")
    ohlcv = adjusted_ohlcv(prices)
    parts = [compute_group(ohlcv, g) for g in dict.fromkeys(groups)]
    for name, comp in (companions or {}).items():
        comp_ohlcv = adjusted_ohlcv(comp)
        comp_feats = pd.concat([compute_group(comp_ohlcv, g) for g in companion_groups], axis=1)
        aligned = align_companion(prices.index, comp_feats, prefix=name, max_stale=max_stale)
        inside = (prices.index >= comp.index[0]) & (prices.index <= comp.index[-1])
        if not inside.any():
            raise ValueError(
                f"companion {name!r} has no dates overlapping the target "
                f"({prices.index[0]:%Y-%m-%d} to {prices.index[-1]:%Y-%m-%d}); pick another "
                "ticker or date range."
            )
        parts.append(aligned)
    frame = pd.concat(parts, axis=1)
    complete = frame.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise ValueError("no date has every feature; the history is shorter than the warm-up.")
    first = int(complete.argmax())
    body = frame.iloc[first:]
    holes = body.isna().any(axis=1)
    if holes.any():
        day = body.index[holes][0]
        cols = list(body.columns[body.loc[day].isna()])
        raise ValueError(
            f"features {cols} are missing on {day:%Y-%m-%d} after the warm-up (a companion gap "
            f"longer than {max_stale} days?). Shorten the date range or drop that companion."
        )
    notes = (f"dropped {first} warm-up rows before {body.index[0]:%Y-%m-%d}",)
    return FeatureMatrix(body, first, notes)
