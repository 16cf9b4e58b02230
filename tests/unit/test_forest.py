"""orionlite.forest: the importances ``orionlite plot --kind importance`` draws."""

from __future__ import annotations

import numpy as np
import pytest

from orionlite import forest


def _xor(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """a and b matter only together (the sign of their product); c a little alone; d not."""
    rng = np.random.default_rng(seed)
    features = rng.random((n, 4))
    target = np.sign(features[:, 0] - 0.5) * np.sign(features[:, 1] - 0.5)
    target += 0.3 * features[:, 2] + rng.normal(0, 0.05, n)
    return features, target


def test_sees_parameters_that_matter_only_together() -> None:
    """A main-effect measure gives a and b nothing here: each alone leaves the mean at 0."""
    scores = forest.importances(*_xor())
    assert scores.sum() == pytest.approx(1.0)
    assert min(scores[0], scores[1]) > 0.35
    assert scores[2] > scores[3]
    assert scores[3] < 0.05


def test_same_data_and_seed_give_the_same_importances() -> None:
    features, target = _xor()
    first = forest.importances(features, target)
    assert np.array_equal(first, forest.importances(features.copy(), target.copy()))
    assert not np.array_equal(first, forest.importances(features, target, seed=1))


def test_a_constant_target_gives_zeros() -> None:
    features, _ = _xor(50)
    assert np.array_equal(forest.importances(features, np.full(50, 2.0)), np.zeros(4))


def test_bins_keep_the_order_of_values_and_share_equal_ones() -> None:
    column = np.array([5.0, 1.0, 3.0, 3.0, 9.0])
    assert forest.binned(column[:, None])[:, 0].tolist() == [2, 0, 1, 1, 3]
    many = np.arange(1000.0)[::-1]
    codes = forest.binned(many[:, None], bins=10)[:, 0]
    assert codes.min() == 0 and codes.max() == 9
    assert np.all(np.diff(codes) <= 0)  # values fall, so do their bins
