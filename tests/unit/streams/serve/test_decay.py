"""Score decay with lead age."""

from __future__ import annotations

import doctest
import math

import pytest

import streams.serve.decay
from streams.serve.decay import MS_PER_HOUR, decay_factor, decayed


@pytest.mark.parametrize(("age", "expected"), [(0.0, 1.0), (48.0, 0.5), (96.0, 0.25),
                                               (24.0, math.sqrt(0.5))])
def test_value_halves_every_half_life(age: float, expected: float) -> None:
    assert decay_factor(age, 48.0) == pytest.approx(expected)


def test_a_lead_from_the_future_is_not_worth_more() -> None:
    assert decay_factor(-5.0, 48.0) == 1.0


@pytest.mark.parametrize("half_life", [0.0, -1.0, math.inf])
def test_a_half_life_of_zero_or_infinity_switches_decay_off(half_life: float) -> None:
    assert decay_factor(1_000.0, half_life) == 1.0


def test_decayed_score_uses_the_age_between_creation_and_now() -> None:
    created = 1_700_000_000_000
    assert decayed(0.4, created, created + int(12 * MS_PER_HOUR), 12.0) == pytest.approx(0.2)
    assert decayed(0.4, created, created, 12.0) == 0.4


def test_doctests() -> None:
    assert doctest.testmod(streams.serve.decay).failed == 0
