"""Task metrics as GLUE reports them, computed by scikit-learn and SciPy. Higher is better.

Both libraries are imported by the metric that needs them, not with this module: together they
take over a second to import, and a re-run the cache answers entirely needs only the constant
predictor's accuracy (glpsearch/scoring/reference.py), the fraction of labels predicted right.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np


def _accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    # what sklearn.metrics.accuracy_score computes: the mean of the matches
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _f1(y_true: Sequence, y_pred: Sequence) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred))


def _matthews(y_true: Sequence, y_pred: Sequence) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y_true, y_pred))


def _correlation(name: str) -> Callable[[Sequence[float], Sequence[float]], float]:
    def score(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
        from scipy import stats

        with warnings.catch_warnings():  # a constant is expected (the trivial predictor's)
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            value = float(getattr(stats, name)(y_true, y_pred)[0])
        return 0.0 if value != value else value  # constant predictions: no correlation, not NaN

    return score


METRICS: dict[str, Callable[[Sequence, Sequence], float]] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "matthews": _matthews,
    "spearman": _correlation("spearmanr"),
    "pearson": _correlation("pearsonr"),
}


def compute(metric: str, y_true: Sequence, y_pred: Sequence) -> float:
    return METRICS[metric](y_true, y_pred)
