#!/usr/bin/env bash
# A trial in plain bash: no Python, no orionlite import. It reads its hyperparameters
# from the command line and writes the results file named by $ORIONLITE_RESULTS_PATH.
#
#   hunt -n bash-demo --max-trials 10 -- examples/bash_trainer.sh \
#       --x~'uniform(-5, 5)' --depth~'choices([1, 2, 3])'
#
# Each trial runs as: examples/bash_trainer.sh --x=1.234 --depth=2
set -euo pipefail

x=0
depth=1
for argument in "$@"; do
    case "$argument" in
        --x=*) x="${argument#--x=}" ;;
        --depth=*) depth="${argument#--depth=}" ;;
        *) echo "unknown argument: $argument" >&2; exit 2 ;;
    esac
done

# "Training": a parabola with its minimum at x = 1, plus a penalty per level of depth.
loss=$(awk -v x="$x" -v d="$depth" 'BEGIN { printf "%.6f", (x - 1) ^ 2 + 0.1 * d }')
echo "x=$x depth=$depth loss=$loss"

# Exactly one objective (minimised); statistics and constraints are optional.
cat > "${ORIONLITE_RESULTS_PATH:?not run by orionlite}" <<JSON
[
  {"name": "loss", "type": "objective", "value": $loss},
  {"name": "depth", "type": "statistic", "value": $depth}
]
JSON
