"""Where an algorithm's random draws come from: replayable with a seed, fresh per process
without one."""

from __future__ import annotations

import multiprocessing

import pytest

from orionlite.algorithms import make_algorithm
from orionlite.algorithms.base import Algorithm
from orionlite.history import TrialList
from orionlite.space import Space

SPACE = Space.from_priors({"x": "uniform(0, 1)", "y": "loguniform(1e-5, 1)"})
EMPTY = TrialList([], set())


def _unseeded() -> Algorithm:
    return make_algorithm({"random": {}}, SPACE)


def test_a_seed_replays_the_same_suggestion_for_the_same_history() -> None:
    first = make_algorithm({"random": {"seed": 5}}, SPACE).suggest(EMPTY, 3)
    again = make_algorithm({"random": {"seed": 5}}, SPACE).suggest(EMPTY, 3)
    assert [p.params for p in first] == [p.params for p in again]


def test_without_a_seed_one_generator_serves_successive_suggestions() -> None:
    algorithm = _unseeded()
    assert algorithm.rng(EMPTY) is algorithm.rng(EMPTY)
    first, second = algorithm.suggest(EMPTY, 1), algorithm.suggest(EMPTY, 1)
    assert first[0].params != second[0].params


def _suggest_in_child(algorithm: Algorithm, queue: multiprocessing.Queue) -> None:
    queue.put(algorithm.suggest(EMPTY, 1)[0].params)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)"
)
def test_forked_workers_do_not_share_the_parents_generator() -> None:
    """``workon`` may fork its workers from a parent whose algorithm already drew: each
    child must draw its own points, or every child proposes the same ones."""
    algorithm = _unseeded()
    algorithm.suggest(EMPTY, 1)  # the parent's generator now exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_suggest_in_child, args=(algorithm, queue)) for _ in "ab"]
    for child in children:
        child.start()
    drawn = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert drawn[0] != drawn[1]
