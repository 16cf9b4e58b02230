"""Bayesian optimisation on scikit-optimize's surrogate models, rebuilt from the history.

Every suggestion starts from the trials table: completed trials are the observations,
pending trials (new, reserved, interrupted) enter the model with a made-up objective, the
*constant liar* (Ginsbourger et al., 2010), so that a worker does not propose what another
worker is evaluating, and broken trials are left out of the model but never proposed
again. Nothing survives between suggestions except a cache of fitted kernel
hyperparameters keyed by the ids of the trials they were fitted on, which is a function of
the history like everything else.

The lie is a *noisy* observation (``LIE_NOISE``), not an exact one: an exact lie flattens
the model over a wide region around each pending trial whenever length scales are long
(early, in several dimensions), which sent 4-worker runs on Hartmann6 to the corners of
the space (median regret 0.4-0.6 instead of 0.13). What keeps concurrent proposals apart
is then explicit: a proposal is more than 1 % of the range (``PENDING_GAP``) away from
every pending trial.

Two choices keep a suggestion fast (tens of milliseconds for a hundred trials) without
giving up quality:

* Kernel hyperparameters (the expensive part: a few L-BFGS runs over the marginal
  likelihood) are refitted when the number of completed trials reaches a checkpoint,
  every trial up to 20, then every 2, 4, 8... as the history doubles (about every 5-10
  %), on the first ``m`` completed trials (at most ``MAX_FIT_POINTS`` of them), with
  gp_fit's likelihood instead of scikit-learn's generic one. Between checkpoints the
  posterior is an exact Gaussian process on every observation and lie with those
  hyperparameters (one Cholesky factorisation).
* The acquisition function is maximised over random candidates plus candidates
  clustered around the best observations, then refined around the best candidates: a
  vectorised stand-in for the multi-start L-BFGS of scikit-optimize, which spends most
  of its time in per-point Python calls.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orionlite.algorithms.base import Algorithm, Proposal
from orionlite.algorithms.common import (
    Seen,
    check_choice,
    check_int,
    check_seed,
    completed,
    penalised_losses,
    pending,
    point_at,
    seen_hashes,
)
from orionlite.algorithms.encoding import Encoding
from orionlite.algorithms.gp_fit import Kernel, fit_kernel
from orionlite.errors import ConfigError
from orionlite.objectives import Objectives
from orionlite.space import hash_params

if TYPE_CHECKING:
    from orionlite.records import TrialRecord
    from orionlite.space import Space

ESTIMATORS = ("GP", "RF", "ET")
ACQ_FUNCS = ("EI", "PI", "LCB")
LIARS = ("cl_min", "cl_mean", "cl_max")

_FULL_REFIT_UP_TO = 20
_CACHE_SIZE = 8
_TOP_OBSERVATIONS = 3
_REFINE_TOP = 5
_MAX_DESIGN = 2**16
NOISE_BOUNDS = (1e-6, 0.1)
"""Range of the Gaussian process's noise variance, as a fraction of the objective's."""
LIE_NOISE = 0.1
"""Noise variance of a pending trial's lie, as a fraction of the objective's variance."""
MAX_MODEL_POINTS = 300
"""Default of ``max_model_points``: the posterior is exact on every observation up to
this many completed trials, then on the best half and the most recent rest."""
MAX_FIT_POINTS = 64
"""Kernel hyperparameters are fitted on at most this many trials (best half, most recent
rest, of those the checkpoint covers), so that a refit (a worker's first suggestion, then
one per checkpoint) stays well under 500 ms at any history size: a likelihood evaluation
costs O(n^3) and a fit takes 100-200 of them (decision 0032)."""
PENDING_GAP = 0.011
"""A proposal is farther than this (Chebyshev, model coordinates) from pending trials:
1 % of each dimension's range, plus a margin for the rounding to the prior's precision."""


class _Posterior:
    """An exact Gaussian-process posterior with fixed hyperparameters.

    scikit-optimize's ``predict(return_std=True)`` forms the variance with a full
    inverse and ``einsum``; a triangular solve is several times faster for thousands of
    candidates and is numerically safer.
    """

    def __init__(
        self, fit: Kernel, x: np.ndarray, y: np.ndarray, extra: np.ndarray | None = None
    ) -> None:
        from scipy.linalg import cho_solve, cholesky

        self._fit = fit
        self._x = x
        matrix = fit.kernel(x)
        if extra is not None:
            matrix = matrix + np.diag(extra)
        jitter = max(fit.noise, 1e-10)
        for _ in range(6):
            try:
                self._chol = cholesky(matrix + jitter * np.eye(len(x)), lower=True)
                break
            except np.linalg.LinAlgError:
                jitter *= 10.0
        else:  # pragma: no cover - would need a singular kernel despite the jitter
            raise np.linalg.LinAlgError("kernel matrix is not positive definite")
        self._alpha = cho_solve((self._chol, True), (y - fit.y_mean) / fit.y_std)

    def predict(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.linalg import solve_triangular

        cross = self._fit.kernel(candidates, self._x)
        mean = cross @ self._alpha * self._fit.y_std + self._fit.y_mean
        solved = solve_triangular(self._chol, cross.T, lower=True, check_finite=False)
        variance = self._fit.kernel.diag(candidates) - np.einsum("ij,ij->j", solved, solved)
        return mean, np.sqrt(np.maximum(variance, 1e-18)) * self._fit.y_std


class _Forest:
    """RF / ET from scikit-optimize, which estimate their uncertainty from the trees."""

    def __init__(self, kind: str, x: np.ndarray, y: np.ndarray, seed: int) -> None:
        from skopt.utils import cook_estimator

        self._model = cook_estimator(kind, random_state=seed, n_jobs=1)
        self._model.fit(x, y)

    def predict(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self._model.predict(candidates, return_std=True)
        return np.asarray(mean), np.maximum(np.asarray(std), 1e-12)


def best_and_recent(
    observed: list[TrialRecord], objectives: Objectives, limit: int
) -> list[TrialRecord]:
    """At most ``limit`` of the observations, in their order: the best half by (penalised)
    loss, then the most recent ones. Exact Gaussian processes cost O(n^3) to fit and
    O(n^2) per candidate; above a few hundred points they are kept to this subset, which
    holds both where the optimum is and where the search is now."""
    if len(observed) <= limit:
        return observed
    losses = np.array(penalised_losses(observed, objectives))
    chosen = set(np.argsort(losses, kind="stable")[: limit // 2].tolist())
    for index in range(len(observed) - 1, -1, -1):
        if len(chosen) >= limit:
            break
        chosen.add(index)
    return [observed[index] for index in sorted(chosen)]


def hyperparameter_fit_size(completed_count: int) -> int:
    """How many completed trials the kernel hyperparameters are fitted on.

    Every count up to 20, then the count rounded down to a multiple of 2, 4, 8, ... (the
    step doubles each time the history doubles), so a refit happens about every 5-10 %
    of new results.
    """
    if completed_count <= _FULL_REFIT_UP_TO:
        return completed_count
    step = 2 ** math.floor(math.log2(completed_count / 10))
    return completed_count - completed_count % step


class BayesianOptimizer(Algorithm):
    """Gaussian process (or random / extra trees) + expected improvement, with a
    constant liar for pending trials and a Sobol design for the first points."""

    name = "bayes"

    def __init__(
        self,
        space: Space,
        *,
        seed: int | None = None,
        n_initial_points: int = 10,
        base_estimator: str = "GP",
        acq_func: str = "EI",
        liar: str = "cl_min",
        xi: float = 0.01,
        kappa: float = 1.96,
        n_points: int = 2000,
        max_model_points: int = MAX_MODEL_POINTS,
    ) -> None:
        super().__init__(space, seed=check_seed(self.name, seed))
        self.n_initial_points = check_int(self.name, "n_initial_points", n_initial_points, 0)
        if isinstance(base_estimator, str) and base_estimator.upper() == "GBRT":
            raise ConfigError(
                "Algorithm 'bayes': base_estimator 'GBRT' is not offered: scikit-optimize's "
                "gradient-boosted trees do not work with current scikit-learn.",
                hint=f"Use one of {', '.join(ESTIMATORS)} (GP is the default).",
            )
        self.base_estimator = check_choice(self.name, "base_estimator", base_estimator, ESTIMATORS)
        self.acq_func = check_choice(self.name, "acq_func", acq_func, ACQ_FUNCS)
        self.liar = check_choice(self.name, "liar", liar, LIARS)
        self.xi = _check_number("xi", xi)
        self.kappa = _check_number("kappa", kappa)
        self.n_points = check_int(self.name, "n_points", n_points, 10)
        self.max_model_points = check_int(self.name, "max_model_points", max_model_points, 10)
        self.encoding = Encoding(space)
        self._kernels: OrderedDict[tuple[int, ...], Kernel] = OrderedDict()

    def configuration(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "n_initial_points": self.n_initial_points,
            "base_estimator": self.base_estimator,
            "acq_func": self.acq_func,
            "liar": self.liar,
            "xi": self.xi,
            "kappa": self.kappa,
            "n_points": self.n_points,
            # Stored only when changed, so that experiments created before the option
            # existed still match their own configuration when joined.
            **(
                {"max_model_points": self.max_model_points}
                if self.max_model_points != MAX_MODEL_POINTS
                else {}
            ),
        }

    def fitted_on(self) -> list[tuple[int, ...]]:
        """The ids of the trials each cached kernel was fitted on, oldest fit first."""
        return list(self._kernels)

    def suggest(self, history: Sequence[TrialRecord], num: int = 1) -> list[Proposal]:
        from orionlite.threads import limited_threads

        with limited_threads():
            return self._suggest(history, num)

    def _suggest(self, history: Sequence[TrialRecord], num: int) -> list[Proposal]:
        seen = seen_hashes(history)
        observed = completed(history)
        lies = [trial.params for trial in pending(history)]
        rng = self.rng(history)
        proposals: list[Proposal] = []
        for _ in range(num):
            # Pending trials count towards the design: with many workers, the model starts
            # when n_initial_points trials were proposed, as with one worker.
            started = len(observed) + len(lies)
            if self.encoding.width and len(observed) >= 2 and started >= self.n_initial_points:
                params = self._model_point(observed, lies, seen, rng)
            else:
                params = self._design_point(seen, rng)
            if params is None:
                break
            seen.add(hash_params(params))
            lies.append(params)
            proposals.append(Proposal(params))
        return proposals

    def is_done(self, history: Sequence[TrialRecord]) -> bool:
        from orionlite.algorithms.random_search import space_size

        return len(seen_hashes(history)) >= space_size(self.space)

    # -- the first points: a scrambled Sobol sequence -------------------------------------

    def _design_point(self, seen: Seen, rng: np.random.Generator) -> dict[str, Any] | None:
        """The first point of the design that is not in the history.

        With a seed the design is fixed, so colliding workers move on to its next point
        once they see the first; without one each call scrambles afresh (random points).
        """
        from scipy.stats import qmc

        design_seed = self.seed if self.seed is not None else int(rng.integers(2**32))
        size = 16
        while size <= _MAX_DESIGN:
            sobol = qmc.Sobol(len(self.space), scramble=True, seed=design_seed)
            for unit in sobol.random_base2(int(math.log2(size))):
                params = point_at(self.space, unit.tolist())
                if hash_params(params) not in seen:
                    return params
            size *= 16
        for _ in range(100):
            params = self.space.sample(rng)
            if hash_params(params) not in seen:
                return params
        return None

    # -- the model ----------------------------------------------------------------------

    def _model_point(
        self,
        observed: list[TrialRecord],
        lies: list[dict[str, Any]],
        seen: Seen,
        rng: np.random.Generator,
    ) -> dict[str, Any] | None:
        encoding = self.encoding
        # The kernel comes from the whole history: its cache key then changes only at
        # refit checkpoints (from the subset, it changed with every new result).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bounds reached while fitting: harmless
            kernel = self._kernel(observed) if self.base_estimator == "GP" else None
        observed = best_and_recent(observed, self.objectives, self.max_model_points)
        y = np.array(penalised_losses(observed, self.objectives), dtype=float)
        x = encoding.encode([trial.params for trial in observed])
        lie = {"cl_min": y.min(), "cl_mean": y.mean(), "cl_max": y.max()}[self.liar]
        x_pending = encoding.encode(lies)
        x_all = np.vstack([x, x_pending])
        y_all = np.concatenate([y, np.full(len(lies), lie)])
        with warnings.catch_warnings():
            # Bounds reached while fitting, near-zero variances: expected, and harmless.
            warnings.simplefilter("ignore")
            if kernel is not None:
                noise = np.concatenate([np.zeros(len(y)), np.full(len(lies), LIE_NOISE)])
                model: _Posterior | _Forest = _Posterior(kernel, x_all, y_all, noise)
            else:
                model = _Forest(self.base_estimator, x_all, y_all, int(rng.integers(2**31)))
            candidates, scores = self._maximise(model, x, y, rng)
        if lies:
            # Chebyshev distance, in model coordinates, to the nearest pending trial.
            gaps = np.abs(candidates[:, None, :] - x_pending[None, :, :]).max(axis=2).min(axis=1)
            scores = np.where(gaps <= PENDING_GAP, -np.inf, scores)
        for index in np.argsort(-scores)[:64]:
            if not np.isfinite(scores[index]):
                break
            params = encoding.decode(candidates[index])
            if hash_params(params) not in seen and self.space.contains(params):
                return params
        return self._design_point(seen, rng)

    def _kernel(self, observed: list[TrialRecord]) -> Kernel:
        """Hyperparameters for this history, from the cache when its checkpoint was seen."""
        subset = observed[: hyperparameter_fit_size(len(observed))]
        subset = best_and_recent(subset, self.objectives, MAX_FIT_POINTS)
        key = tuple(trial.id for trial in subset)
        cached = self._kernels.get(key)
        if cached is not None:
            self._kernels.move_to_end(key)
            return cached
        x = self.encoding.encode([trial.params for trial in subset])
        y = np.array(penalised_losses(subset, self.objectives), dtype=float)
        seed = None if self.seed is None else (self.seed * 100_003 + len(subset)) % 2**32
        fit = fit_kernel(x, y, seed, NOISE_BOUNDS)
        self._kernels[key] = fit
        while len(self._kernels) > _CACHE_SIZE:
            self._kernels.popitem(last=False)
        return fit

    def _score(self, model: _Posterior | _Forest, candidates: np.ndarray, best: float) -> Any:
        """Acquisition value (higher is better) of each candidate."""
        from scipy.special import ndtr

        mean, std = model.predict(candidates)
        if self.acq_func == "LCB":
            return -(mean - self.kappa * std)
        improvement = best - mean - self.xi
        z = improvement / std
        if self.acq_func == "PI":
            return ndtr(z)
        return improvement * ndtr(z) + std * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    def _maximise(
        self,
        model: _Posterior | _Forest,
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidates and their scores: random ones, ones near the best observations,
        then a finer search around the best candidates."""
        encoding = self.encoding
        best = float(y.min())
        tops = x[np.argsort(y)[:_TOP_OBSERVATIONS]]
        local = max(16, self.n_points // 10)
        first = np.vstack(
            [
                encoding.random(rng, self.n_points),
                encoding.around(rng, tops, local, np.exp(rng.uniform(-6, -1.5, size=local))),
            ]
        )
        first_scores = self._score(model, first, best)
        leaders = first[np.argsort(-first_scores)[:_REFINE_TOP]]
        fine = max(8, self.n_points // 40)
        scales = np.concatenate([np.full(fine, 0.02), np.full(fine, 0.004)])
        second = encoding.around(rng, leaders, 2 * fine, scales)
        second_scores = self._score(model, second, best)
        return np.vstack([first, second]), np.concatenate([first_scores, second_scores])


def _check_number(option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(
            f"Algorithm 'bayes': {option} must be a finite number, got {value!r}.",
            hint=f"Example: --algorithm-config '{{\"{option}\": 0.01}}'",
        )
    return float(value)
