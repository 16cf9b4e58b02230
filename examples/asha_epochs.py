"""Multi-fidelity tuning with ASHA: epochs are the budget.

A linear classifier (scikit-learn's SGDClassifier) learns the digits data set one epoch
at a time; the trial trains for ``--epochs`` epochs and reports the validation error.
ASHA starts every configuration with few epochs and gives more only to the best ones:

    hunt -n digits-asha --algorithm asha --max-trials 40 -- python examples/asha_epochs.py \
        --epochs~'fidelity(1, 27, base=3)' \
        --eta0~'loguniform(1e-4, 1)' --alpha~'loguniform(1e-6, 1e-1)'

``fidelity(1, 27, base=3)`` gives rungs of 1, 3, 9 and 27 epochs. A promoted trial is a
new trial (``parent_trial_id`` names the one it continues); this script simply trains
from scratch, a real one could resume from a checkpoint in the parent's folder.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from orionlite import report_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, required=True, help="the budget (fidelity)")
    parser.add_argument("--eta0", type=float, default=0.01, help="initial learning rate")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    args = parser.parse_args()

    features, labels = load_digits(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        features, labels, test_size=0.3, random_state=0, stratify=labels
    )
    scaler = StandardScaler().fit(train_x)
    train_x, valid_x = scaler.transform(train_x), scaler.transform(valid_x)
    model = SGDClassifier(
        learning_rate="constant", eta0=args.eta0, alpha=args.alpha, random_state=0
    )
    classes = np.unique(labels)
    epochs = max(1, round(args.epochs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            model.partial_fit(train_x, train_y, classes=classes)
    error = 1.0 - float(model.score(valid_x, valid_y))
    print(f"epochs={epochs} eta0={args.eta0} alpha={args.alpha}: validation error {error:.4f}")
    report_results(
        [
            {"name": "validation_error", "type": "objective", "value": error},
            {"name": "epochs", "type": "statistic", "value": epochs},
        ]
    )


if __name__ == "__main__":
    main()
