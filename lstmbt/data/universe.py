"""Universes: the tickers a universe study covers, each with the source its prices come from.

SPEC is a built-in name (`sample`: offline, real prices of ^GSPC and ^IXIC from arch and AAPL,
IBM, MSFT, GOOG from bokeh-sampledata), a text file of tickers (one per line, `#` comments;
their prices come from the run's source), or a folder of Yahoo-style CSV files (one ticker per
file, labelled by its file stem).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lstmbt.data.prices import SAMPLE
from lstmbt.errors import ConfigError, did_you_mean

BUILT_IN = {"sample": tuple(SAMPLE)}
SURVIVORSHIP = (
    "Survivorship: a universe picked today (the sample's AAPL, MSFT, IBM, GOOG, or a current "
    "index list) holds companies that survived and grew, which flatters buy-and-hold over the "
    "past; a strategy's edge over it is measured against a lucky benchmark."
)


@dataclass(frozen=True)
class Member:
    """One ticker of a universe: its label (report rows, kept exactly in every file), where its
    prices are, and its folder under the universe's tickers/ (`ticker_folder`)."""

    label: str
    ticker: str
    source: str

    @property
    def folder(self) -> str:
        return ticker_folder(self.label)


def ticker_folder(label: str) -> str:
    """A ticker's folder name: its label with every character other than an ASCII letter,
    digit, '.' or '-' written as '_' and its UTF-8 bytes in hex ('AAPL' -> 'AAPL', '^GSPC' ->
    '_5EGSPC', 'é' -> '_C3_A9'), and a leading '.' or '-' too ('..' -> '_2E.'). One label, one
    name, on any machine, in the characters a run id allows; two labels never share one ('_' is
    always an escape, so the name reads back to its label), except labels that differ only in
    case on a case-insensitive disk, which `resolve_universe` refuses; and no name is '.',
    '..', hidden or an option."""
    out = []
    for i, char in enumerate(label):
        plain = char.isascii() and (char.isalnum() or char in ".-")
        if plain and not (i == 0 and char in ".-"):
            out.append(char)
        else:
            out += [f"_{byte:02X}" for byte in char.encode()]
    return "".join(out)


@dataclass(frozen=True)
class Universe:
    name: str
    members: tuple[Member, ...]


def resolve_universe(spec: str, source: str = "sample") -> Universe:
    """The members of a universe SPEC; one clear line when it names nothing usable."""
    spec = str(spec).strip()
    if spec in BUILT_IN:
        return Universe(spec, tuple(Member(t, t, "sample") for t in BUILT_IN[spec]))
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
        if not files:
            raise ConfigError(
                f"the universe folder {spec!r} holds no .csv files; put one Yahoo-style CSV per "
                "ticker there (the file stem is the ticker's label)."
            )
        members = tuple(Member(p.stem, p.stem, str(p)) for p in files)
        _refuse_clashes(members, spec)
        return Universe(path.name, members)
    if path.is_file():
        return Universe(path.stem, tuple(Member(t, t, source) for t in _ticker_list(path)))
    if "/" in spec or "." in spec:
        raise ConfigError(f"the universe file or folder {spec!r} does not exist.")
    raise ConfigError(
        f"unknown universe {spec!r}.{did_you_mean(spec, BUILT_IN)} Use a built-in name "
        f"({', '.join(BUILT_IN)}), a text file of tickers or a folder of CSV files."
    )


def _refuse_clashes(members: tuple[Member, ...], spec: str) -> None:
    """Two files giving one label (A.csv, A.CSV), or labels that differ only in case (a.csv,
    A.csv: one folder on a case-insensitive disk), are refused in one line naming both."""
    seen: dict[str, Member] = {}
    for m in members:
        a = seen.setdefault(m.folder.casefold(), m)
        if a is m:
            continue
        files = f"{Path(a.source).name} and {Path(m.source).name}"
        if a.label == m.label:
            raise ConfigError(
                f"the universe folder {spec!r} holds {files}, which both give the ticker label "
                f"{m.label!r}; remove or rename one (one file per ticker)."
            )
        raise ConfigError(
            f"the universe folder {spec!r} holds {files}, whose labels {a.label!r} and "
            f"{m.label!r} differ only in case (their results would share a folder on a "
            "case-insensitive disk); rename one."
        )


def _ticker_list(path: Path) -> list[str]:
    names: list[str] = []
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if "," in name or " " in name:
            raise ConfigError(
                f"{str(path)!r} line {line.strip()!r}: a ticker list has one ticker per line "
                "(a folder of CSV files is the way to give prices)."
            )
        if name.upper() not in [n.upper() for n in names]:
            names.append(name.upper())
    if not names:
        raise ConfigError(f"the ticker list {str(path)!r} is empty; write one ticker per line.")
    return names
