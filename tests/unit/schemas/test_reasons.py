"""Every feature the scoring path produces has a phrase a buyer can read."""

from __future__ import annotations

import pytest

from schemas.reasons import FAMILIES, FEATURES, PREFIXES, family_of, phrases
from streams.features.behaviour import FEATURE_NAMES as BEHAVIOUR
from streams.scoring.arms import Scorer
from streams.traffic.labelled import scored_traffic


@pytest.fixture(scope="module")
def produced() -> set[str]:
    """The names of every feature the worker's ingest path gives the model."""
    scorer = Scorer.from_specs("StandardScaler|LogisticRegression")
    names: set[str] = set(BEHAVIOUR)
    for row in scored_traffic(scorer, 1_500, seed=3):
        names |= row.features.keys()
    return names


def test_every_produced_feature_has_a_phrase(produced: set[str]) -> None:
    assert len(produced) >= 50  # the whole set, not a corner of it
    missing = sorted(name for name in produced if family_of(name) is None)
    assert not missing, f"features without a buyer phrase in schemas/reasons.py: {missing}"


def test_the_catalogue_names_only_real_families_and_uses_every_one(produced: set[str]) -> None:
    assert set(FEATURES.values()) | set(PREFIXES.values()) == set(FAMILIES)
    assert {family_of(name) for name in produced} == set(FAMILIES)
    for family in FAMILIES.values():
        assert family.up and family.down and family.up != family.down
        assert "_" not in family.up + family.down  # no feature names leak into phrases


def test_features_that_encode_one_fact_read_as_one_reason() -> None:
    assert phrases(["hour_sin+", "hour_cos-", "has_phone-"]) == [
        "asked at a time of day when leads convert well", "no phone number"]
    assert phrases(["intent_sell+", "intent_buy-"]) == [FAMILIES["intent"].up]
    assert phrases(["beh_views_7d+", "beh_recency+"]) == ["active on listings recently"]


def test_unknown_or_malformed_codes_are_never_shown() -> None:
    assert phrases(["mystery_feature+", "has_phone", "", "has_email?"]) == []
