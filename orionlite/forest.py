"""A random forest's impurity importances in numpy alone, for ``orionlite plot --kind importance``.

Bagged regression trees, each grown on a bootstrap sample with every feature tried at every
split, like scikit-learn's ``RandomForestRegressor`` defaults; a parameter's importance is
its share of the squared-error decrease, normalised per tree, then averaged. Two things
differ, both to make it cheap: split points are chosen among at most ``bins`` quantiles of
each feature (as histogram-based boosting does), and trees stop at ``depth`` levels. All
trees grow together, one level at a time, so the work is a few numpy calls per level and
feature, not per node. Importing scikit-learn alone took longer than the whole plot's target
(docs/decisions/0071-importance-forest-in-numpy.md).

Deterministic: the same data and seed give the same importances.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TREES = 50
DEPTH = 8
BINS = 32

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def binned(features: Floats, bins: int = BINS) -> Ints:
    """Each column as bin indexes 0..bins-1, ordered like the values: one bin per distinct
    value when there are at most ``bins``, else quantile bins (equal values share a bin)."""
    columns = []
    for column in features.T:
        distinct = np.unique(column)
        if len(distinct) <= bins:
            columns.append(np.searchsorted(distinct, column))
        else:
            edges = np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1]))
            columns.append(np.searchsorted(edges, column, side="right"))
    return np.stack(columns, axis=1).astype(np.int64)


def importances(
    features: Floats,
    target: Floats,
    trees: int = TREES,
    depth: int = DEPTH,
    bins: int = BINS,
    seed: int = 0,
) -> Floats:
    """One importance per column of ``features`` (n x d), summing to 1, or all 0 when no
    split lowers the squared error (e.g. a constant target)."""
    n, d = features.shape
    codes = binned(features, bins)
    rng = np.random.default_rng(seed)
    # Row r of the flattened bootstrap is sample r % n of tree r // n, weighted by how often
    # the bootstrap drew it; rows drawn 0 times carry nothing and are dropped.
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(trees)])
    tree_of, sample = np.nonzero(weights)
    weight = weights[tree_of, sample].astype(np.float64)
    centred = target - target.mean()  # sums near 0: the gains keep their precision
    y = centred[sample]
    x = codes[sample]
    node = tree_of.astype(np.int64)  # the node each row is in; node k belongs to tree_of_node[k]
    tree_of_node = np.arange(trees)
    decrease = np.zeros((trees, d))
    tolerance = 1e-12 * float(np.sum(weight * y * y)) + 1e-300
    for _ in range(depth):
        nodes = len(tree_of_node)
        best_gain = np.full(nodes, tolerance)
        best_feature = np.full(nodes, -1)
        best_bin = np.zeros(nodes, dtype=np.int64)
        weighted_y = weight * y
        for feature in range(d):
            slot = node * bins + x[:, feature]
            count = np.bincount(slot, weight, nodes * bins).reshape(nodes, bins)
            total = np.bincount(slot, weighted_y, nodes * bins).reshape(nodes, bins)
            left_count = np.cumsum(count, axis=1)[:, :-1]
            left_total = np.cumsum(total, axis=1)[:, :-1]
            right_count = left_count[:, -1:] + count[:, -1:] - left_count
            right_total = left_total[:, -1:] + total[:, -1:] - left_total
            # Decrease of the node's squared error when split after this bin (<= 0: no split).
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = left_total**2 / left_count + right_total**2 / right_count
            gain -= ((left_total[:, -1] + total[:, -1]) ** 2 / (left_count[:, -1] + count[:, -1]))[
                :, None
            ]
            gain[(left_count == 0) | (right_count == 0)] = -np.inf
            at = np.argmax(gain, axis=1)
            found = gain[np.arange(nodes), at]
            better = found > best_gain
            best_gain[better] = found[better]
            best_feature[better] = feature
            best_bin[better] = at[better]
        split = best_feature >= 0
        if not split.any():
            break
        np.add.at(decrease, (tree_of_node[split], best_feature[split]), best_gain[split])
        # Rows of leaves leave; the others go to child 2k (bin <= split bin) or 2k + 1.
        stays = split[node]
        node, x, y, weight = node[stays], x[stays], y[stays], weight[stays]
        right = x[np.arange(len(node)), best_feature[node]] > best_bin[node]
        rank = np.cumsum(split) - 1
        node = 2 * rank[node] + right
        tree_of_node = np.repeat(tree_of_node[split], 2)
    per_tree = decrease.sum(axis=1, keepdims=True)
    shares = np.divide(decrease, per_tree, out=np.zeros_like(decrease), where=per_tree > 0)
    mean = shares.mean(axis=0)
    return mean / mean.sum() if mean.sum() > 0 else mean
