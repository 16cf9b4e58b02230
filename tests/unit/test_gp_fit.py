"""bayes's kernel fit: the same likelihood, gradient and optimum as scikit-optimize's
Gaussian process, which it replaces for speed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from orionlite.algorithms.gp_fit import fit_kernel, negative_log_likelihood

NOISE_BOUNDS = (1e-6, 0.1)


def observations(count: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(count, width))
    y = np.sin(6 * x[:, 0]) + (x[:, 1:] ** 2).sum(axis=1) + 0.01 * rng.normal(size=count)
    return x, y


def skopt_gp(seed: int) -> object:
    from skopt.learning.gaussian_process.kernels import WhiteKernel
    from skopt.utils import cook_estimator

    gp = cook_estimator(
        "GP", space=[(0.0, 1.0)] * 4, random_state=seed, noise="gaussian", n_restarts_optimizer=2
    )
    white = WhiteKernel(noise_level=1e-5, noise_level_bounds=NOISE_BOUNDS)
    gp.set_params(kernel=gp.kernel + white)
    return gp


@pytest.mark.parametrize("count", [5, 40])
def test_likelihood_and_gradient_match_scikit_learn(count: int) -> None:
    x, y = observations(count, 4, seed=count)
    gp: object = skopt_gp(0)
    gp.set_params(optimizer=None)  # type: ignore[attr-defined]  # only its likelihood is used
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.fit(x, y)  # type: ignore[attr-defined]
    normalised = (y - y.mean()) / y.std()
    bounds = gp.kernel.bounds  # type: ignore[attr-defined]
    rng = np.random.default_rng(1)
    for _ in range(5):
        theta = rng.uniform(bounds[:, 0], bounds[:, 1])
        value, gradient = negative_log_likelihood(theta, x, normalised)
        expected, expected_gradient = gp.log_marginal_likelihood(  # type: ignore[attr-defined]
            theta, eval_gradient=True
        )
        assert value == pytest.approx(-expected, rel=1e-8, abs=1e-8)
        np.testing.assert_allclose(gradient, -expected_gradient, rtol=1e-6, atol=1e-8)


def test_the_fit_finds_scikit_optimizes_hyperparameters() -> None:
    x, y = observations(30, 4, seed=3)
    gp: object = skopt_gp(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.fit(x, y)  # type: ignore[attr-defined]
    fit = fit_kernel(x, y, 7, NOISE_BOUNDS)
    expected = gp.kernel_.k1  # type: ignore[attr-defined]
    assert fit.kernel.k1.k1.constant_value == pytest.approx(expected.k1.constant_value, rel=1e-3)
    np.testing.assert_allclose(fit.kernel.k1.k2.length_scale, expected.k2.length_scale, rtol=1e-3)
    assert fit.noise == pytest.approx(gp.noise_, rel=1e-3)  # type: ignore[attr-defined]
    assert fit.kernel.k2.noise_level == 0.0, "the noise enters the training matrix only"
    assert (fit.y_mean, fit.y_std) == pytest.approx((y.mean(), y.std()))
