"""A script that reads its settings from a YAML file, as many training scripts do.

    hunt -n from-config --max-trials 10 -- python examples/config/train_from_config.py \
        --config examples/config/model.yaml

orionlite finds the priors in model.yaml, and each trial runs with
``--config <trial folder>/model.yaml``, a filled-in copy.
"""

from __future__ import annotations

import argparse
import math

import yaml

from orionlite import report_objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    lr = config["optimizer"]["lr"]
    width = config["model"]["hidden"][0]
    activation = config["model"]["activation"]
    # Stand-in for training: best near lr = 0.01, width 64, tanh.
    loss = (math.log10(lr) + 2) ** 2 + abs(math.log2(width / 64)) * 0.1
    loss += 0.05 if activation == "relu" else 0.0
    print(f"config {args.config}: lr={lr} width={width} activation={activation} loss={loss:.4f}")
    report_objective(loss)


if __name__ == "__main__":
    main()
