#!/usr/bin/env bash
# `make demo`: two masterless workers share one experiment on the default SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p demo && cd demo
rm -f orionlite.db orionlite.db-wal orionlite.db-shm

run_worker() {
    "../$BIN/hunt" -n demo --max-trials 20 --seed 1 -- \
        "../$BIN/python" ../examples/quadratic.py \
        --lr~'loguniform(1e-5, 1)' --momentum~'uniform(0, 1)' --layers~'choices([1, 2, 3])'
}

echo "Starting 2 workers on sqlite:///demo/orionlite.db ..."
run_worker 2> >(sed 's/^/[worker 1] /' >&2) &
first=$!
run_worker 2> >(sed 's/^/[worker 2] /' >&2) &
second=$!
wait "$first" "$second"
echo
"../$BIN/orionlite" status
"../$BIN/orionlite" info -n demo
echo
echo "hunt and orionlite are installed in .venv: to use them in this shell, run"
echo "  source .venv/bin/activate"
