"""Task metrics as GLUE reports them, computed by scikit-learn and SciPy. Higher is better."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

from scipy.stats import ConstantInputWarning, pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef


def _correlation(fn: Callable) -> Callable[[Sequence[float], Sequence[float]], float]:
    def score(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
        with warnings.catch_warnings():  # a constant is expected (the trivial predictor's)
            warnings.simplefilter("ignore", ConstantInputWarning)
            value = float(fn(y_true, y_pred)[0])
        return 0.0 if value != value else value  # constant predictions: no correlation, not NaN

    return score


METRICS: dict[str, Callable[[Sequence, Sequence], float]] = {
    "accuracy": lambda y, p: float(accuracy_score(y, p)),
    "f1": lambda y, p: float(f1_score(y, p)),
    "matthews": lambda y, p: float(matthews_corrcoef(y, p)),
    "spearman": _correlation(spearmanr),
    "pearson": _correlation(pearsonr),
}


def compute(metric: str, y_true: Sequence, y_pred: Sequence) -> float:
    return METRICS[metric](y_true, y_pred)
