"""Early stopping of a real model: scikit-learn's SGDClassifier on the digits data set,
one epoch per step, reporting its validation error after every epoch.

    hunt -n digits-early --max-trials 30 --n-workers 2 --early-stop median -- \
        python examples/early_stopping.py --alpha~'loguniform(1e-6, 1e-1)' \
        --eta0~'loguniform(1e-4, 1)' --learning_rate~"choices(['constant', 'adaptive'])"

Each epoch's error goes to $ORIONLITE_PROGRESS_PATH (``report_progress``); the worker
stores it and, under ``--early-stop median``, stops a trial whose best error so far is
worse than the median of the other trials at the same epoch. The script saves a
checkpoint and leaves as soon as it is asked to (the stop file), so it never needs the
SIGTERM that follows after ``--stop-grace`` seconds. Run by hand, it just trains.
"""

from __future__ import annotations

import argparse
import pickle
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from orionlite import report_objective
from orionlite.reporting import report_progress

EPOCHS = 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--eta0", type=float, default=0.01)
    parser.add_argument("--learning_rate", default="adaptive")
    args = parser.parse_args()

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    model = SGDClassifier(
        loss="log_loss",
        alpha=args.alpha,
        eta0=args.eta0,
        learning_rate=args.learning_rate,
        random_state=0,
    )
    classes = np.unique(y_train)
    error = 1.0
    for epoch in range(1, EPOCHS + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)
        error = float(1 - model.score(x_val, y_val))
        # True once the worker asked this trial to stop (the stop file exists).
        if report_progress(epoch, error):
            Path("checkpoint.pkl").write_bytes(pickle.dumps(model))
            print(f"stopped after epoch {epoch}: checkpoint saved")
            return  # recorded as pruned, with the last reported error as its objective
    report_objective(error)


if __name__ == "__main__":
    main()
