"""The kernel hyperparameters of bayes's Gaussian process, fitted without scikit-learn's
per-evaluation overhead.

The model is scikit-optimize's: a constant times an anisotropic Matérn 5/2 kernel plus a
white-noise term, targets normalised to zero mean and unit variance, hyperparameters
chosen by maximising the log marginal likelihood with L-BFGS-B in log space, from the
kernel's initial values and then from ``restarts`` points drawn uniformly within the
bounds. scikit-learn evaluates that likelihood through generic kernel objects (an
``(n, n, parameters)`` gradient tensor, property look-ups, ``dstack``): about 9 ms per
evaluation on 128 points, and a fit takes 100-200 evaluations. The same likelihood and
gradient written for this one kernel cost a fraction of that, and the optimiser, its
starts and its bounds are unchanged, so the fit finds the same optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

RESTARTS = 2
"""Random starts of the fit, after the kernel's initial values (scikit-optimize's)."""

_SQRT5 = math.sqrt(5.0)
_JITTER = 1e-10
"""Added to the kernel's diagonal, as scikit-learn's ``alpha`` default."""


@dataclass(frozen=True)
class Kernel:
    """Hyperparameters fitted on some completed trials: the kernel (its noise term set to
    zero, as scikit-optimize does: noise enters the training matrix only), the noise level
    and the scale the targets were normalised with."""

    kernel: Any
    noise: float
    y_mean: float
    y_std: float


def fit_kernel(
    x: np.ndarray, y: np.ndarray, seed: int | None, noise_bounds: tuple[float, float]
) -> Kernel:
    """scikit-optimize's Gaussian-process kernel for observations ``x`` (coordinates in
    [0, 1]) and ``y``: a constant times Matérn 5/2 with a length scale per coordinate,
    plus a noise term within ``noise_bounds`` (a fraction of the normalised variance:
    with few points an uncapped noise level explains every difference as noise and
    leaves a flat, useless model). ``seed`` draws the random starts."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    width = x.shape[1]
    kernel = ConstantKernel(1.0, (0.01, 1000.0)) * Matern(
        length_scale=np.ones(width), length_scale_bounds=[(0.01, 100.0)] * width, nu=2.5
    ) + WhiteKernel(noise_level=1e-5, noise_level_bounds=noise_bounds)
    bounds = kernel.bounds
    draws = np.random.RandomState(seed)
    starts = [kernel.theta] + [draws.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(RESTARTS)]
    mean, std = float(np.mean(y)), float(np.std(y)) or 1.0
    fitted = kernel.clone_with_theta(fit_theta(x, (y - mean) / std, starts, bounds))
    noise = float(fitted.k2.noise_level)
    fitted.set_params(k2=WhiteKernel(noise_level=0.0))
    return Kernel(kernel=fitted, noise=noise, y_mean=mean, y_std=std)


def negative_log_likelihood(
    theta: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Minus the log marginal likelihood of normalised targets ``y`` at ``theta`` (log
    constant, log length scale per coordinate, log noise) and its gradient."""
    from scipy.linalg import cho_solve, cholesky

    amplitude = math.exp(theta[0])
    noise = math.exp(theta[-1])
    scaled = x / np.exp(theta[1:-1])
    # Per coordinate, as differences (the expansion |a|^2 + |b|^2 - 2ab loses the small
    # distances to rounding, enough to send L-BFGS-B to another optimum).
    parts = [(column[:, None] - column[None, :]) ** 2 for column in scaled.T]
    squared = np.sum(parts, axis=0)
    size = len(x)
    root = np.sqrt(5.0 * squared)  # sqrt(5) r
    decay = np.exp(-root)
    covariance = amplitude * (1.0 + root + root * root / 3.0) * decay
    matrix = covariance.copy()
    matrix[np.diag_indices(size)] += noise + _JITTER
    try:
        chol = cholesky(matrix, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return math.inf, np.zeros_like(theta)
    alpha = cho_solve((chol, True), y, check_finite=False)
    likelihood = (
        -0.5 * float(y @ alpha)
        - float(np.log(np.diag(chol)).sum())
        - size / 2 * math.log(2 * math.pi)
    )
    inner = np.outer(alpha, alpha) - cho_solve((chol, True), np.eye(size), check_finite=False)
    gradient = np.empty_like(theta)
    gradient[0] = 0.5 * float((inner * covariance).sum())
    # d K_ij / d log l_k = amplitude 5/3 (s_ik - s_jk)^2 (1 + sqrt(5) r) e^(-sqrt(5) r)
    weight = inner * (amplitude * 5.0 / 3.0 * (1.0 + root) * decay)
    gradient[1:-1] = [0.5 * float((weight * part).sum()) for part in parts]
    gradient[-1] = 0.5 * noise * float(np.trace(inner))
    return -likelihood, -gradient


def fit_theta(
    x: np.ndarray, y: np.ndarray, starts: list[np.ndarray], bounds: np.ndarray
) -> np.ndarray:
    """The hyperparameters of the best L-BFGS-B run among those started at ``starts``."""
    from scipy.optimize import minimize

    best: tuple[float, Any] | None = None
    for start in starts:
        result = minimize(
            negative_log_likelihood, start, args=(x, y), method="L-BFGS-B", jac=True, bounds=bounds
        )
        if best is None or float(result.fun) < best[0]:
            best = (float(result.fun), result.x)
    assert best is not None
    return np.asarray(best[1])
