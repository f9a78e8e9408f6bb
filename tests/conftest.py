"""Shared fixtures: real S&P 500 / NASDAQ frames from arch.data, tiny model configs, no network."""

from __future__ import annotations

import os
import socket

import pandas as pd
import pytest
import torch
from hypothesis import settings

import lstmbt  # noqa: F401 - applies start-up settings
from lstmbt.config import RunConfig
from lstmbt.data import load_one

# CI runs property-based tests with fixed examples, so a red build is reproducible.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# cpu everywhere; cuda only where a GPU is visible (elsewhere it shows as skipped)
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    ),
]

TINY = dict(
    epochs=2, hidden_size=8, batch_size=512, patience=2, tearsheets=False, device="cpu", jobs=1
)


@pytest.fixture(autouse=True)
def no_terminal_size_from_the_environment(monkeypatch):
    """Printed tables do not depend on who runs the tests: pytest-xdist's workers inherit
    COLUMNS=80 (a plain run has none), and the CLI honours $COLUMNS when piped. A test that
    needs a width sets it."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never use the network: any socket connection attempt fails loudly."""

    def guard(*args, **kwargs):
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)
    # yfinance downloads through curl_cffi (libcurl), which never touches Python's sockets:
    # block it at its entry point too (tests that exercise the download path fake it)
    monkeypatch.setattr("yfinance.download", guard)


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    return load_one("^GSPC", "sample")


@pytest.fixture(scope="session")
def nasdaq() -> pd.DataFrame:
    return load_one("^IXIC", "sample")


@pytest.fixture
def tiny(tmp_path):
    """A RunConfig factory for small, fast, CPU-only runs writing under tmp_path."""

    def make(**changes) -> RunConfig:
        values = dict(TINY, out=str(tmp_path / "reports"), start="2012-01-01")
        values.update(changes)
        return RunConfig(**values)

    return make


YAHOO_NAMES = {
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adj_close": "Adj Close",
    "volume": "Volume",
}


def yahoo_csv(frame: pd.DataFrame, path, **renames) -> str:
    """Write a frame as a Yahoo-style CSV (Date, Open, High, Low, Close, Adj Close, Volume)."""
    out = frame.rename(columns=YAHOO_NAMES).rename(columns=renames)
    out.index.name = "Date"
    out.to_csv(path, date_format="%Y-%m-%d")
    return str(path)
