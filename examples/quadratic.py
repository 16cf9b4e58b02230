"""A stand-in for a training script: takes hyperparameters, sleeps a little, reports a loss.

    hunt -n quad --max-trials 20 -- python examples/quadratic.py \
        --lr~'loguniform(1e-5, 1)' --momentum~'uniform(0, 1)' --layers~'choices([1, 2, 3])'
"""

from __future__ import annotations

import argparse
import math
import time

from orionlite import report_objective


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    time.sleep(0.2)  # "training"
    loss = (math.log10(args.lr) + 3) ** 2 + (args.momentum - 0.8) ** 2 + 0.1 * abs(args.layers - 2)
    print(f"lr={args.lr} momentum={args.momentum} layers={args.layers} loss={loss:.4f}")
    report_objective(loss)


if __name__ == "__main__":
    main()
