"""The online recommender: segments, implicit feedback, affinities.

The contract every model keeps (cold score, untouched input, pickling, seeding, no NaN,
the range of affinities) is checked once for all of them in
tests/unit/streams/test_model_contract.py.
"""

from __future__ import annotations

import doctest
import random

import h3.api.basic_int as h3

import streams.serve.recommender
from streams.serve.recommender import (
    INTERACTION_WEIGHTS,
    Recommender,
    price_band,
    segment,
    style_of,
)

CELL = h3.latlng_to_cell(41.4993, -81.6944, 7)
LIKED = segment(CELL, "condo", 250_000.0, "buy")
DISLIKED = segment(CELL, "single_family", 900_000.0, "buy")


def taught(seed: int = 7, rounds: int = 150) -> Recommender:
    """Two buyers with opposite tastes, plus a few who only look around."""
    model = Recommender(warmup=20, seed=42)
    rng = random.Random(seed)
    for _ in range(rounds):
        for buyer, liked, disliked in (("buyer-0001", LIKED, DISLIKED),
                                       ("buyer-0002", DISLIKED, LIKED)):
            model.learn_one(buyer, liked, rng.choice(["save", "hold", "purchase"]))
            model.learn_one(buyer, disliked, rng.choice(["view", "return"]))
        model.learn_one(f"buyer-{rng.randrange(10, 20):04d}", rng.choice([LIKED, DISLIKED]),
                        "view")
    return model


def test_weights_rank_the_kinds_of_interaction() -> None:
    w = INTERACTION_WEIGHTS
    assert w["return"] < w["release"] < w["view"] < w["save"] < w["hold"] < w["purchase"]


def test_segment_is_a_coarser_cell_type_and_band() -> None:
    assert f"{h3.cell_to_parent(CELL, 6):x}:condo:p1" == LIKED
    assert style_of(LIKED) == "s:condo:p1"
    assert segment(0, None, None, "unknown") == "0:unknown:na"
    assert [price_band(p, "buy") for p in (100_000.0, 150_000.0, 5e6)] == ["p0", "p1", "p5"]


def test_a_buyer_prefers_the_segment_they_buy_over_the_one_they_return() -> None:
    model = taught()
    assert model.affinity("buyer-0001", LIKED) > 1.1 > 0.9 > model.affinity("buyer-0001", DISLIKED)
    # Per buyer, not per segment: the other buyer's taste is the opposite.
    assert model.affinity("buyer-0002", DISLIKED) > model.affinity("buyer-0002", LIKED)


def test_taste_carries_over_to_a_new_area_through_the_style() -> None:
    model = taught()
    elsewhere = h3.latlng_to_cell(33.45, -112.07, 7)  # Phoenix: never seen
    new_liked = segment(elsewhere, "condo", 250_000.0, "buy")
    new_disliked = segment(elsewhere, "single_family", 900_000.0, "buy")
    assert model.affinity("buyer-0001", new_liked) > model.affinity("buyer-0001", new_disliked)


def test_cold_is_neutral_until_warm_and_for_strangers() -> None:
    model = Recommender(warmup=5)
    for _ in range(4):
        model.learn_one("buyer-0001", LIKED, "purchase")
    assert not model.ready
    assert model.affinity("buyer-0001", LIKED) == 1.0
    model.learn_one("buyer-0001", LIKED, "purchase")
    assert model.ready
    assert model.affinity("buyer-0404", LIKED) == 1.0  # a buyer it never saw
    assert model.affinity("buyer-0001", segment(CELL, "land", None, "buy")) == 1.0


def test_unknown_kinds_teach_nothing() -> None:
    model = Recommender()
    model.learn_one("buyer-0001", LIKED, "stared_at")
    assert model.n_learned == 0
    assert "buyer-0001" not in model.model.u_biases


def test_reading_does_not_grow_the_model() -> None:
    model = taught()
    users, items = len(model.model.u_biases), len(model.model.i_biases)
    model.affinity("buyer-0001", segment(CELL, "land", 50_000.0, "buy"))
    model.affinity("buyer-0999", LIKED)
    assert (len(model.model.u_biases), len(model.model.i_biases)) == (users, items)


def test_doctests() -> None:
    assert doctest.testmod(streams.serve.recommender).failed == 0
