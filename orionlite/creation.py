"""Create an experiment, join the stored one when the settings match, or branch a child
(SPEC §6): the one place ``hunt`` and the Python API start from."""

from __future__ import annotations

from orionlite.branching import branch_experiment
from orionlite.errors import ExperimentConflictError, ExperimentNotFoundError
from orionlite.experiment import Experiment, join_experiment
from orionlite.experiment_settings import ExperimentSettings, new_values
from orionlite.storage import Storage


def build_experiment(storage: Storage, settings: ExperimentSettings) -> Experiment:
    """Create the experiment, or join it when the configuration matches (SPEC §6).

    Many workers may start at once: creation races are settled by the unique (name,
    version) constraint, and the loser joins what the winner stored.
    """
    if settings.branch is not None:
        return branch_experiment(storage, settings)
    for _ in range(5):
        record = storage.get_experiment(settings.name, settings.version)
        if record is not None:
            return join_experiment(storage, record, settings)
        if settings.space is None:
            raise ExperimentNotFoundError(
                f"No experiment {settings.name!r} in {storage.display_url}, and no search "
                "space to create it with.",
                hint="Give the command with priors, e.g.: hunt -n "
                f"{settings.name} -- python train.py --lr~'loguniform(1e-5, 1)'",
            )
        created = storage.create_experiment(new_values(settings))
        if created is not None:
            return Experiment(storage, created)
    raise ExperimentConflictError(f"Could not create or join experiment {settings.name!r}.")


__all__ = ["ExperimentSettings", "build_experiment"]
