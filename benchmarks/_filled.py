"""A database holding one experiment with N finished trials, written by bulk inserts.

Running 100,000 real trials would take an hour; what the dashboard and the plots read is
the same either way: rows of the trials table, with the change markers workers write.
The experiment is created through orionlite's own API, so its record is a real one.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import sqlalchemy as sa

from orionlite.creation import ExperimentSettings, build_experiment
from orionlite.objectives import parse_objectives
from orionlite.space import Space, hash_params
from orionlite.storage import Storage
from orionlite.storage.numbers import SEQUENCE_PREFIX
from orionlite.storage.sqlfunctions import change_seq
from orionlite.storage.tables import trials

SPACE = {
    "lr": "loguniform(1e-5, 1)",
    "momentum": "uniform(0, 1)",
    "layers": "uniform(1, 8, discrete=True)",
    "activation": "choices(['relu', 'tanh', 'gelu'])",
}
_CHUNK = 5000


def fill(url: str, n: int, name: str = "filled", seed: int = 0, two: bool = False) -> int:
    """Create experiment ``name`` at ``url`` with ``n`` trials (97 % completed, the rest
    broken, reserved or new); returns its id. ``two``: two objectives, the loss
    (minimised) and a cost that falls as the loss grows (maximised "speed")."""
    storage = Storage(url)
    experiment = build_experiment(
        storage,
        ExperimentSettings(
            name=name,
            space=Space.from_priors(SPACE),
            algorithm="random",
            command=["python", "train.py", *(f"--{k}~{v}" for k, v in SPACE.items())],
            objectives=parse_objectives(["loss", "speed:max"]) if two else None,
        ),
    )
    rng = random.Random(seed)
    start = time.time() - n * 2.0
    rows = []
    for i in range(n):
        params = {
            "lr": 10 ** rng.uniform(-5, 0),
            "momentum": rng.random(),
            "layers": rng.randint(1, 8),
            "activation": rng.choice(["relu", "tanh", "gelu"]),
        }
        roll = rng.random()
        status = (
            "completed"
            if roll < 0.97 or i < n - 20
            else ("broken" if roll < 0.98 else ("reserved" if roll < 0.99 else "new"))
        )
        status = "broken" if status == "completed" and rng.random() < 0.02 else status
        created = start + i * 2.0
        loss = (math.log10(params["lr"]) + 2.5) ** 2 + (params["momentum"] - 0.9) ** 2
        loss += 0.1 * params["layers"] + rng.gauss(0, 0.05)
        done = status in ("completed", "broken")
        rows.append(
            {
                "number": i + 1,
                "params": params,
                "params_hash": hash_params(params),
                "status": status,
                "attempt": 1 if status != "new" else 0,
                "reserved_by": f"host{i % 8}:{1000 + i % 8}:abcdef{i % 8:02d}"
                if status != "new"
                else None,
                "objective": loss if status == "completed" else None,
                "results": _results(loss, params, two) if status == "completed" else None,
                "exit_code": 0 if status == "completed" else (1 if status == "broken" else None),
                "created_at": created,
                "started_at": created + 0.1 if status != "new" else None,
                "ended_at": created + 1.5 + rng.random() if done else None,
                "lease_expires_at": time.time() + 3600 if status == "reserved" else None,
            }
        )
    statement = trials.insert().values(experiment_id=experiment.id, change_seq=change_seq())
    with storage.engine.begin() as connection:
        for begin in range(0, n, _CHUNK):
            connection.execute(statement, rows[begin : begin + _CHUNK])
        if connection.dialect.name == "postgresql":  # numbers go on after the filled ones
            sequence = f"{SEQUENCE_PREFIX}{int(experiment.id)}"
            connection.execute(sa.text(f"SELECT setval('{sequence}', {max(n, 1)})"))
    storage.close()
    return experiment.id


def _results(loss: float, params: dict[str, Any], two: bool) -> list[dict[str, Any]]:
    results = [{"name": "loss", "type": "objective", "value": loss}]
    if two:  # fewer layers and a larger learning rate train faster
        speed = 10.0 - params["layers"] + math.log10(params["lr"]) + params["momentum"]
        results.append({"name": "speed", "type": "objective", "value": speed})
    return results


if __name__ == "__main__":
    import sys

    fill(sys.argv[1], int(sys.argv[2]), two="--two" in sys.argv[3:])
