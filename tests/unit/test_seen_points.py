"""Which points an algorithm must not propose again: the history's own hash set, read in
place, plus what the current suggestion proposed."""

from __future__ import annotations

from orionlite.algorithms import make_algorithm
from orionlite.algorithms.base import Proposal
from orionlite.algorithms.common import seen_hashes
from orionlite.history import TrialList
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params


def _trial(trial_id: int, params: dict[str, int]) -> TrialRecord:
    return TrialRecord(trial_id, 1, params, hash_params(params), TrialStatus.COMPLETED)


def test_a_history_read_lends_its_hash_set_and_keeps_it_unchanged() -> None:
    known = {"a", "b"}
    seen = seen_hashes(TrialList([], known))
    assert "a" in seen and "c" not in seen and len(seen) == 2
    seen.add("c")
    seen.add("a")  # already known: counted once
    assert "c" in seen and len(seen) == 3
    assert known == {"a", "b"}, "the history's own set is never written to"


def test_a_plain_list_of_trials_is_hashed_on_the_spot() -> None:
    trials = [_trial(1, {"x": 1}), _trial(2, {"x": 2})]
    seen = seen_hashes(trials)
    assert hash_params({"x": 1}) in seen and len(seen) == 2


def test_random_search_avoids_the_points_in_the_history_hash_set() -> None:
    """Nine of ten points are in the hash set only (not in the list): the one left is
    the only possible proposal, so the set, not the list, was consulted."""
    space = Space.from_priors({"x": "choices([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])"})
    algorithm = make_algorithm({"random": {"seed": 3}}, space)
    taken = {hash_params({"x": value}) for value in range(10) if value != 7}
    proposals = algorithm.suggest(TrialList([], taken), 1)
    assert [p.params for p in proposals] == [{"x": 7}]


def test_a_proposal_carries_the_hash_its_algorithm_checked() -> None:
    """Random search hashes each draw to check it is new, and hands that hash on, so the
    worker does not hash the point again; a proposal without one is hashed when asked."""
    space = Space.from_priors({"x": "uniform(0, 1)", "n": "choices(['a,b', 'c'])"})
    algorithm = make_algorithm({"random": {"seed": 3}}, space)
    proposals = algorithm.suggest(TrialList([], set()), 3)
    assert [p.known_hash for p in proposals] == [hash_params(p.params) for p in proposals]
    assert Proposal({"x": 0.5}).params_hash == hash_params({"x": 0.5})
