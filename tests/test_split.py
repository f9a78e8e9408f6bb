"""Chronological split: ordered disjoint blocks, an embargo no label or window crosses."""

from __future__ import annotations

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from lstmbt.models import chronological_split


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(300, 6000),
    lookback=st.integers(1, 60),
    horizon=st.integers(1, 10),
    val=st.floats(0.05, 0.3),
    test=st.floats(0.05, 0.3),
)
def test_blocks_are_ordered_disjoint_and_embargoed(n, lookback, horizon, val, test):
    try:
        s = chronological_split(n, lookback=lookback, horizon=horizon, val_frac=val, test_frac=test)
    except ValueError as exc:
        assert "too few" in str(exc)
        # a refusal must be justified: some block is short by the plain arithmetic (+1 rounding)
        embargo = lookback + horizon - 1
        assert n * (1 - val - test) - embargo < 101 or n * val - embargo < 21 or n * test < 21
        event("refused: too few samples")
        assume(False)  # not counted as a pass: a split that always refuses fails as Unsatisfiable
    assert s.train[-1] < s.val[0] <= s.val[-1] < s.test[0] and s.test[-1] == n - 1
    # the last training label (t + horizon) comes before the first row of any validation window
    assert s.train[-1] + horizon < s.val[0] - lookback + 1
    assert s.val[-1] + horizon < s.test[0] - lookback + 1
    assert s.embargo == lookback + horizon - 1


def test_test_block_does_not_depend_on_lookback():
    a = chronological_split(2000, lookback=1)
    b = chronological_split(2000, lookback=60, horizon=5)
    assert (a.test == b.test).all()


def test_too_short_history_says_what_to_change():
    with pytest.raises(ValueError, match="too few.*longer date range"):
        chronological_split(200, lookback=60)


def test_bad_fractions():
    with pytest.raises(ValueError, match="must be in"):
        chronological_split(2000, lookback=1, val_frac=0.6, test_frac=0.5)
