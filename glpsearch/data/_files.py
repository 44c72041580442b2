"""Reading a CSV, TSV, JSON or JSON Lines file into rows, through `datasets`.

Delimited files come quoted two ways: GLUE's TSVs hold double quotes as plain text, often
unbalanced (read them with quoting off), while review corpora quote CSV-style so a text may span
lines. Neither may be a silent guess that drops or merges rows: both readings are tried (strict,
every record as wide as the first) and the one that holds is used; where both hold but count
different rows, the user decides with --quoting. Without a header row, columns are named by
their 0-based position ("0", "1", ...).
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

from glpsearch.errors import UserError, first_line

QUOTING = ("none", "csv")
_COMPRESSED = (".gz", ".bz2", ".xz")


def kind_of(path: Path) -> str:
    """.csv, .tsv, .json or .jsonl (after any compression suffix); UserError for others."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in _COMPRESSED]
    kind = suffixes[-1] if suffixes else ""
    if kind not in (".csv", ".tsv", ".json", ".jsonl"):
        raise UserError(f"{path}: unsupported file type; use .csv, .tsv, .json or .jsonl")
    return kind


def stem(path: Path) -> str:
    """The file's name without its type and compression suffixes: train.tsv.gz -> train."""
    name = path.name
    while Path(name).suffix.lower() in (*_COMPRESSED, ".csv", ".tsv", ".json", ".jsonl"):
        name = name[: -len(Path(name).suffix)]
    return name


def read_file(path: Path, header: bool = True, quoting: str | None = None) -> list[dict]:
    """Rows of a data file. `quoting`: "none", "csv", or None to decide from the file."""
    kind = kind_of(path)
    if kind in (".json", ".jsonl"):
        if not header:
            raise UserError(f"{path}: --no-header is for CSV and TSV files; JSON names its fields")
        return read(path, "json")
    sep = "\t" if kind == ".tsv" else ","
    _check_exists(path)
    chosen = quoting or decide_quoting(path, sep, header)
    options: dict[str, Any] = {"sep": sep}
    if chosen == "none":
        options["quoting"] = csv.QUOTE_NONE
    if not header:
        options["header"] = None
    return read(path, "csv", **options)


def decide_quoting(path: Path, sep: str, header: bool = True) -> str:
    """ "none" or "csv": the reading under which every record is as wide as the first; "csv"
    (the usual CSV rules) where both hold with the same rows or neither holds (its error then
    says what is wrong). Both holding with different row counts: one line naming --quoting."""
    if path.suffix.lower() in _COMPRESSED:
        return "csv"  # read as it always was; --quoting none decides otherwise
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "csv"  # the reader below reports it
    if '"' not in text:
        return "csv"  # no quote: both readings are the same
    plain = _records(text, sep, csv.QUOTE_NONE)
    quoted = _records(text, sep, csv.QUOTE_MINIMAL)
    if plain is not None and quoted is not None and len(plain) != len(quoted):
        skip = 1 if header else 0
        raise UserError(
            f"{path}: its double quotes read two ways, as text ({len(plain) - skip} rows) or as "
            f"CSV quoting ({len(quoted) - skip} rows); choose with --quoting none or --quoting csv"
        )
    return "none" if plain is not None and quoted is None else "csv"


def _records(text: str, sep: str, quoting: int) -> list[list[str]] | None:
    """Every non-blank record, or None when the text does not read cleanly this way."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting, strict=True)
    try:
        records = [record for record in reader if record]
    except csv.Error:
        return None
    if not records or any(len(record) != len(records[0]) for record in records):
        return None
    return records


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty")


def read(path: Path, builder: str, **options: Any) -> list[dict]:
    """Rows through a `datasets` builder ("csv" or "json"); its errors become one line."""
    import datasets
    import pandas

    _check_exists(path)
    if builder == "csv":
        options.setdefault("keep_default_na", False)  # "NA" or "" is text, not a missing value
        # a first row longer than the header must not silently become pandas' index column
        options.setdefault("index_col", False)
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its errors become ours, once
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pandas.errors.ParserWarning)  # ragged rows lose data
            loaded = datasets.load_dataset(builder, data_files={"train": str(path)}, **options)
    except Exception as exc:
        while exc.__cause__ is not None:  # "error generating the dataset" hides the reason
            exc = exc.__cause__
        if "corresponds to no data" in str(exc):  # datasets' words for a header and no rows
            raise UserError(f"{path} has no rows") from None
        raise UserError(f"cannot read {path}: {first_line(exc, 300, joined=True)}") from None
    return loaded["train"].to_list()
