"""The learning-curve workload of ``benchmarks/early_stop.py``: real training, one epoch
per step.

scikit-learn's ``SGDClassifier.partial_fit`` on the digits data set (bundled with
scikit-learn: nothing is downloaded), standardised, a fixed 75/25 split. One step is one
epoch over the training set; its value is the validation error (1 - accuracy). An epoch
takes about a millisecond here, far less than the model of a real search, so each epoch
is padded to ``EPOCH_S`` seconds of wall time (default 0.1): the stop rules then act on
epochs as long as their own decision cycle, as they would on a real model.

Run as a command-line trial (``python _sgd_curve.py --alpha=... --eta0=...
--learning_rate=...``, reporting through ``orionlite.report_progress``) or called in
process by the Optuna runs (:func:`train`).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import cache  # noqa: E402
from typing import Any  # noqa: E402

EPOCHS = 30
EPOCH_S = float(os.environ.get("BENCH_EPOCH_S", "0.1"))
SPACE = {
    "alpha": "loguniform(1e-6, 1e-1)",
    "eta0": "loguniform(1e-4, 1.0)",
    "learning_rate": "choices(['constant', 'optimal', 'invscaling', 'adaptive'])",
}


@cache
def _data() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def train(
    alpha: float, eta0: float, learning_rate: str, report: Callable[[int, float], bool]
) -> tuple[float, int]:
    """(last validation error, epochs run): stops early when ``report`` says so."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    x_train, x_val, y_train, y_val = _data()
    model = SGDClassifier(
        loss="log_loss", alpha=alpha, eta0=eta0, learning_rate=learning_rate, random_state=0
    )
    classes = np.unique(y_train)
    error = 1.0
    for epoch in range(1, EPOCHS + 1):
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)
        error = float(1.0 - model.score(x_val, y_val))
        time.sleep(max(0.0, EPOCH_S - (time.monotonic() - started)))
        if report(epoch, error):
            return error, epoch
    return error, EPOCHS


def main(argv: list[str]) -> None:
    from orionlite import report_objective
    from orionlite.reporting import report_progress

    args = dict(argument[2:].split("=", 1) for argument in argv)
    error, _epochs = train(
        float(args["alpha"]), float(args["eta0"]), args["learning_rate"], report_progress
    )
    report_objective(error)  # a stopped trial is recorded pruned whatever it reports


if __name__ == "__main__":
    main(sys.argv[1:])
