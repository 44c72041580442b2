"""Task metrics against values worked out by hand."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import warnings

import pytest

from glpsearch.scoring.metrics import METRICS, compute


def test_all_glue_metrics_are_known() -> None:
    assert set(METRICS) == {"accuracy", "f1", "matthews", "spearman", "pearson"}


def test_accuracy() -> None:
    assert compute("accuracy", [0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    assert compute("accuracy", [2, 0, 1], [2, 0, 1]) == 1.0  # three classes
    assert compute("accuracy", [1, 1], [0, 0]) == 0.0


def test_f1_of_the_positive_class() -> None:
    # TP=2 FP=1 FN=1: precision 2/3, recall 2/3, F1 2/3
    assert compute("f1", [1, 1, 0, 0, 1], [1, 0, 1, 0, 1]) == pytest.approx(2 / 3)
    # TP=1 FP=0 FN=2: precision 1, recall 1/3, F1 = 2 * 1/3 / (4/3) = 1/2
    assert compute("f1", [1, 1, 1, 0], [1, 0, 0, 0]) == pytest.approx(0.5)


def test_matthews() -> None:
    # TP=2 TN=1 FP=1 FN=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert compute("matthews", [1, 1, 0, 0, 1], [1, 0, 1, 0, 1]) == pytest.approx(1 / 6)
    assert compute("matthews", [0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert compute("matthews", [0, 1, 0, 1], [0, 0, 0, 0]) == 0.0  # constant: no information


def test_spearman() -> None:
    # rank differences -1, 1, -1, 1, 0: 1 - 6*4 / (5*(25-1)) = 0.8
    assert compute("spearman", [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # any increasing function is a perfect rank correlation
    assert compute("spearman", [1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert compute("spearman", [1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_pearson() -> None:
    # deviations (-1, 0, 1) and (-1, 1, 0): covariance 1, variances 2 and 2: r = 1/2
    assert compute("pearson", [1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert compute("pearson", [1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    # not a rank metric: a curved but monotone relation is below 1
    assert compute("pearson", [1, 2, 3, 4], [1, 10, 100, 1000]) < 0.9


@pytest.mark.parametrize("metric", ["spearman", "pearson"])
@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [([0.1, 0.5, 0.9, 0.3], [0.4, 0.4, 0.4, 0.4]), ([1.0, 1.0, 1.0], [0.2, 0.5, 0.1])],
    ids=["constant-predictions", "constant-targets"],
)
def test_constant_input_gives_zero_not_nan(metric: str, y_true: list, y_pred: list) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy warns about the constant input
        value = compute(metric, y_true, y_pred)
    assert not math.isnan(value)
    assert value == 0.0


@pytest.mark.parametrize("metric", list(METRICS))
def test_returns_plain_float(metric: str) -> None:
    assert type(compute(metric, [0, 1, 1, 0], [0, 1, 0, 0])) is float


def test_accuracy_is_what_scikit_learn_computes() -> None:
    from sklearn.metrics import accuracy_score

    rng = random.Random(0)
    for n, classes in [(7, 2), (300, 2), (1001, 3)]:
        y_true = [rng.randrange(classes) for _ in range(n)]
        y_pred = [rng.randrange(classes) for _ in range(n)]
        assert compute("accuracy", y_true, y_pred) == float(accuracy_score(y_true, y_pred))


def test_accuracy_imports_neither_scikit_learn_nor_scipy() -> None:
    """A re-run the cache answers scores only the constant predictor's accuracy: importing
    scikit-learn and SciPy for it would cost more than the rest of such a run's work."""
    code = (
        "import sys; from glpsearch.scoring.metrics import compute; "
        "compute('accuracy', [0, 1], [0, 0]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
