"""Tune an SVM on scikit-learn's handwritten digits with 3-fold cross-validation.

    hunt -n digits --max-trials 30 -- python examples/sklearn_digits.py \
        --C~'loguniform(1e-2, 1e3)' --gamma~'loguniform(1e-5, 1e-1)' \
        --kernel~"choices(['rbf', 'sigmoid'])"

The objective is the cross-validated error rate (1 - accuracy), which orionlite
minimises; the accuracy and the fit time are reported as statistics, and show up in
``orionlite export`` as ``results.accuracy`` and ``results.fit_seconds``.
"""

from __future__ import annotations

import argparse
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from orionlite import report_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--gamma", type=float, default=1e-3, help="RBF kernel width")
    parser.add_argument("--kernel", default="rbf", choices=["rbf", "sigmoid"])
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()

    features, labels = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), SVC(C=args.C, gamma=args.gamma, kernel=args.kernel))
    started = time.perf_counter()
    accuracy = float(cross_val_score(model, features, labels, cv=args.folds).mean())
    seconds = time.perf_counter() - started
    print(f"C={args.C} gamma={args.gamma} kernel={args.kernel}: accuracy {accuracy:.4f}")
    report_results(
        [
            {"name": "error_rate", "type": "objective", "value": 1.0 - accuracy},
            {"name": "accuracy", "type": "statistic", "value": accuracy},
            {"name": "fit_seconds", "type": "statistic", "value": seconds},
        ]
    )


if __name__ == "__main__":
    main()
