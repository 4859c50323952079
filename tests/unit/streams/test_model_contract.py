"""One contract for every online model the project ships, in the spirit of `river.checks`.

Each model gets a small `Adapter`: how to build it from a seed, how it scores and learns,
what valid input looks like, what unusual and extreme input looks like, and the range its
numbers are documented to stay in. Every check below then runs for every adapter:

1. before learning anything, every number it says is its documented "no opinion" value;
2. new, missing and unknown keys, at scoring and at learning time, neither crash it nor
   give a number that is not finite or out of range;
3. neither scoring nor learning mutates the input;
4. a pickled model (and a `dumps()` / `Cls.loads()` checkpoint, where the model has them)
   says exactly what the original says and keeps learning exactly as it does; `loads`
   refuses a blob that is not one of its own;
5. two models built with the same seed and fed the same stream say the same things (and,
   where randomness is documented, another seed says something else);
6. after learning a stream with extreme values in it, the numbers are still finite and
   in range.

Anything a model has to prove of its own (calibration, promotion, reason codes, taste)
stays in its own test module.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import h3.api.basic_int as h3
import pytest

from infra.settings import Settings
from schemas.contract import SOURCES
from schemas.lead import Lead
from streams.checkpoint import CheckpointError, Pickled
from streams.features.lead import lead_features
from streams.fraud.anomaly import AnomalyScorer, fraud_features
from streams.scoring.arms import Scorer
from streams.scoring.model import ConversionModel
from streams.serve.recommender import INTERACTION_WEIGHTS, Recommender, segment

SETTINGS = Settings()
SEED = 7
Row = tuple[Any, Any]  # (input, label): whatever the model's own learn_one takes


class Said(NamedTuple):
    """What a model says about one input."""

    numbers: tuple[float, ...]  # each finite and within the adapter's documented range
    rest: object = None  # what else it says (reason codes, serving arm, version): compared whole


@dataclass(frozen=True)
class Adapter:
    """One model as the contract sees it."""

    name: str
    make: Callable[[int], Any]  # a fresh model from a seed
    score: Callable[[Any, Any], Said]
    learn: Callable[[Any, Any, Any], object]  # what learning returns, compared between twins
    samples: Callable[[random.Random], list[Row]]  # ordinary, valid input
    unusual: Callable[[random.Random], list[Row]]  # new, missing or unknown keys
    extremes: Callable[[random.Random], list[Row]]  # extreme values the input type allows
    low: float  # the documented range of every number said
    high: float
    cold: float  # the documented "no opinion" value, said before learning
    checkpoint: type[Pickled] | None = None  # `dumps()` / `Cls.loads()`, where present
    seed_matters: bool = False  # documented randomness: another seed says other things


# --- inputs ----------------------------------------------------------------------------

_START = datetime(2024, 5, 1, tzinfo=UTC)
_PLACES = ((41.4993, -81.6944), (33.4484, -112.0740), (47.6062, -122.3321))
_CELLS = tuple(h3.latlng_to_cell(lat, lon, 7) for lat, lon in _PLACES)
_TYPES = ("single_family", "condo", "townhouse", "multi_family", "land")
# Past ~1e154 a square overflows a float: River's running variances (StandardScaler,
# GaussianNB, the tree's splitters) then give inf/NaN or raise. No feature comes near
# (they are indicators, logs, sines, counts), so "huge" stops well short of that.
_HUGE = (1e12, 1e100)
_TINY = 5e-324  # the smallest subnormal


def _lead(rng: random.Random) -> Lead:
    """A random but valid lead, as the parsers produce them."""
    event = _START + timedelta(minutes=rng.randrange(7 * 24 * 60))
    lat, lon = rng.choice(_PLACES)
    located = rng.random() < 0.8
    return Lead(
        lead_id=f"lead-{rng.getrandbits(48):012x}",
        source=rng.choice(SOURCES),
        source_lead_id=str(rng.randrange(1_000_000)),
        event_time=event,
        received_time=event + timedelta(seconds=rng.expovariate(1 / 30)),
        first_name="Ann" if rng.random() < 0.9 else "",
        last_name="Lee" if rng.random() < 0.9 else "",
        email="ann@example.com" if rng.random() < 0.85 else None,
        phone="+12165550123" if rng.random() < 0.7 else None,
        intent=rng.choice(("buy", "sell", "rent", "unknown")),
        property_type=rng.choice((*_TYPES, None)),
        price=rng.lognormvariate(12.5, 0.7) if rng.random() < 0.8 else None,
        beds=rng.choice((None, 1, 2, 3, 4, 5)),
        lat=lat + rng.gauss(0, 0.05) if located else None,
        lon=lon + rng.gauss(0, 0.05) if located else None,
        location_precision="exact" if located else "none",
        consent=rng.random() < 0.8,
        message=" ".join(["call me"] * rng.randrange(12)),
        ip=f"203.0.113.{rng.randrange(256)}" if rng.random() < 0.5 else None,
    )


def _converted(x: dict[str, float], rng: random.Random) -> bool:
    logit = -1.5 + 1.2 * x["has_phone"] + 0.8 * x["consent"] + 0.3 * x["message_words"]
    return rng.random() < 1.0 / (1.0 + math.exp(-logit))


def _feature_rows(rng: random.Random, n: int = 120) -> list[tuple[str, dict[str, float], bool]]:
    rows = []
    for _ in range(n):
        lead = _lead(rng)
        x = lead_features(lead)
        rows.append((lead.lead_id, x, _converted(x, rng)))
    return rows


def _odd_keys(x: dict[str, float]) -> list[dict[str, float]]:
    """The same features with every key missing, half missing, one new, only new ones."""
    keys = sorted(x)
    return [
        {},
        {k: x[k] for k in keys[::2]},
        {**x, "never_seen_before": 3.0},
        {"new_a": 1.0, "new_b": -2.5},
    ]


def _extreme_values(x: dict[str, float], rng: random.Random) -> list[dict[str, float]]:
    """The same keys at huge, huge negative, zero and subnormal values, and a mix of them."""
    values = [v for h in _HUGE for v in (h, -h)] + [0.0, _TINY]
    return [dict.fromkeys(x, v) for v in values] + [
        {k: rng.choice([*values, 1.0]) for k in x} for _ in range(6)
    ]


# --- the scorer's models ---------------------------------------------------------------

def _conversion(spec: str) -> Adapter:
    def score(model: ConversionModel, x: dict[str, float]) -> Said:
        served, reasons = model.explain_one(x, SETTINGS.reason_codes)  # as the Scorer serves
        return Said((served, model.score_one(x)), (reasons, model.version))

    def learn(model: ConversionModel, x: dict[str, float], y: bool) -> None:
        model.learn_one(x, y)

    def samples(rng: random.Random) -> list[Row]:
        return [(x, y) for _, x, y in _feature_rows(rng)]

    def unusual(rng: random.Random) -> list[Row]:
        x = _feature_rows(rng, 1)[0][1]
        return [(odd, i % 2 == 0) for i, odd in enumerate(_odd_keys(x))]

    def extremes(rng: random.Random) -> list[Row]:
        x = _feature_rows(rng, 1)[0][1]
        return [(e, i % 3 == 0) for i, e in enumerate(_extreme_values(x, rng))]

    return Adapter(
        name=f"ConversionModel:{spec}",
        make=lambda seed: ConversionModel(spec=spec, seed=seed),
        score=score, learn=learn, samples=samples, unusual=unusual, extremes=extremes,
        low=0.0, high=1.0, cold=0.5, checkpoint=ConversionModel,
    )


def _scorer(champion: str, challenger: str) -> Adapter:
    """Both arms serve (half the leads each) and both learn every label."""

    def make(seed: int) -> Scorer:
        return Scorer.from_specs(champion, challenger, seed=seed, challenger_share=0.5,
                                 reason_codes=SETTINGS.reason_codes)

    def score(model: Scorer, x: tuple[str, dict[str, float]]) -> Said:
        scored = model.score_one(*x)
        return Said((scored.score,), (scored.arm, scored.model_version, scored.reasons))

    def learn(model: Scorer, x: tuple[str, dict[str, float]], y: bool) -> None:
        model.learn_one(x[1], y)

    def samples(rng: random.Random) -> list[Row]:
        return [((lead_id, x), y) for lead_id, x, y in _feature_rows(rng)]

    def unusual(rng: random.Random) -> list[Row]:
        x = _feature_rows(rng, 1)[0][1]
        return [((f"odd-{i}", odd), i % 2 == 0) for i, odd in enumerate(_odd_keys(x))]

    def extremes(rng: random.Random) -> list[Row]:
        x = _feature_rows(rng, 1)[0][1]
        return [((f"extreme-{i}", e), i % 3 == 0)
                for i, e in enumerate(_extreme_values(x, rng))]

    return Adapter(
        name=f"Scorer:{champion}+{challenger}",
        make=make, score=score, learn=learn, samples=samples, unusual=unusual,
        extremes=extremes, low=0.0, high=1.0, cold=0.5, checkpoint=Scorer,
    )


# --- the fraud screen's anomaly model --------------------------------------------------

def _anomaly() -> Adapter:
    """Warm-up and recalibration shortened so that a short stream reaches calibrated scores."""

    def make(seed: int) -> AnomalyScorer:
        return AnomalyScorer(seed=seed, learn_rate=0.5, warmup=20, recalibrate_every=10)

    def score(model: AnomalyScorer, x: dict[str, float]) -> Said:
        return Said((model.score_one(x),), model.ready)

    def learn(model: AnomalyScorer, x: dict[str, float], y: None) -> bool:
        return model.learn_one(x)

    def features(rng: random.Random) -> dict[str, float]:
        seen = [int(rng.random() < 0.1) for _ in range(3)]
        return fraud_features(_lead(rng), *seen, lag_s=rng.expovariate(1 / 30))

    def samples(rng: random.Random) -> list[Row]:
        return [(features(rng), None) for _ in range(160)]

    def unusual(rng: random.Random) -> list[Row]:
        return [(x, None) for x in _odd_keys(features(rng))]

    def extremes(rng: random.Random) -> list[Row]:
        # Features are documented in [0, 1]; the detector takes any float, so past it too.
        return [(e, None) for e in _extreme_values(features(rng), rng)]

    return Adapter(
        name="AnomalyScorer", make=make, score=score, learn=learn, samples=samples,
        unusual=unusual, extremes=extremes, low=0.0, high=1.0, cold=0.0,
        seed_matters=True,  # the learning sample is seeded
    )


# --- the recommender -------------------------------------------------------------------

_BUYERS = tuple(f"buyer-{i:04d}" for i in range(1, 7))
_LIKED = segment(_CELLS[0], "condo", 250_000.0, "buy")
_DISLIKED = segment(_CELLS[0], "single_family", 900_000.0, "buy")


def _recommender() -> Adapter:
    """Input: (buyer id, segment); label: the interaction kind."""

    def make(seed: int) -> Recommender:
        return Recommender(seed=seed, warmup=10)

    def score(model: Recommender, x: tuple[str, str]) -> Said:
        return Said((model.affinity(*x),))

    def learn(model: Recommender, x: tuple[str, str], kind: str) -> None:
        model.learn_one(*x, kind)

    def samples(rng: random.Random) -> list[Row]:
        kinds = list(INTERACTION_WEIGHTS)
        rows: list[Row] = []
        for _ in range(160):
            buyer = rng.choice(_BUYERS)
            ptype = rng.choice(_TYPES)
            liked = _TYPES.index(ptype) == _BUYERS.index(buyer) % len(_TYPES)
            seg = segment(rng.choice(_CELLS), ptype, rng.lognormvariate(12.5, 0.7),
                          rng.choice(("buy", "sell", "rent")))
            kind = rng.choice(["save", "hold", "purchase"] if liked else kinds)
            rows.append(((buyer, seg), kind))
        return rows

    def unusual(rng: random.Random) -> list[Row]:
        far = h3.latlng_to_cell(25.7617, -80.1918, 7)  # a cell no sample has
        return [
            (("buyer-9999", _LIKED), "view"),  # a buyer never seen
            ((_BUYERS[0], segment(far, "condo", 250_000.0, "buy")), "save"),  # new cell
            ((_BUYERS[1], segment(far, "castle", None, "unknown")), "hold"),  # new style
            ((_BUYERS[2], _LIKED), "stared_at"),  # a kind it does not know
            (("", ""), "view"),
            ((_BUYERS[3], "no-colons-at-all"), "purchase"),
        ]

    def extremes(rng: random.Random) -> list[Row]:
        # No numbers come in: extreme here is the strongest feedback, over and over,
        # opposite for two buyers, plus odd ids and prices far off the bands' ends.
        rows: list[Row] = []
        for _ in range(150):
            rows += [((_BUYERS[0], _LIKED), "purchase"), ((_BUYERS[0], _DISLIKED), "return"),
                     ((_BUYERS[1], _DISLIKED), "purchase"), ((_BUYERS[1], _LIKED), "return")]
        rows += [
            (("b" * 10_000, _LIKED), "purchase"),
            ((_BUYERS[2], segment(_CELLS[1], "land", 1e15, "buy")), "return"),
            ((_BUYERS[2], segment(0, None, 0.0, "rent")), "purchase"),
        ]
        return rows

    return Adapter(
        name="Recommender", make=make, score=score, learn=learn, samples=samples,
        unusual=unusual, extremes=extremes, low=0.5, high=1.5, cold=1.0,
        checkpoint=Recommender, seed_matters=True,  # latent factors start seeded-random
    )


# Shipped: the champion and challenger from settings. The other kinds a spec may name are
# held to the same contract, alone and as arms of a Scorer.
_OTHER_SPECS = ("LogisticRegression", "GaussianNB", "StandardScaler|GaussianNB",
                "HoeffdingTreeClassifier(grace_period=50)")
_SPECS = tuple(dict.fromkeys((SETTINGS.model_spec, SETTINGS.challenger_spec, *_OTHER_SPECS)))
ADAPTERS = [
    *(_conversion(spec) for spec in _SPECS),
    _scorer(SETTINGS.model_spec, SETTINGS.challenger_spec),
    _scorer(_OTHER_SPECS[0], _OTHER_SPECS[1]),
    _scorer(_OTHER_SPECS[2], _OTHER_SPECS[3]),
    _anomaly(),
    _recommender(),
]
each_model = pytest.mark.parametrize("adapter", ADAPTERS, ids=[a.name for a in ADAPTERS])


def _rng(adapter: Adapter, purpose: str) -> random.Random:
    return random.Random(f"{adapter.name}/{purpose}")


def _valid(adapter: Adapter, said: Said) -> None:
    assert said.numbers, f"{adapter.name} said no number"
    for value in said.numbers:
        assert math.isfinite(value), f"{adapter.name}: {said}"
        assert adapter.low <= value <= adapter.high, f"{adapter.name}: {said}"


def _run(adapter: Adapter, model: Any, rows: list[Row]) -> list[tuple[Said, object]]:
    """Score each row then learn it (checking every number); what the model said and returned."""
    out = []
    for x, y in rows:
        said = adapter.score(model, x)
        _valid(adapter, said)
        out.append((said, adapter.learn(model, x, y)))
    return out


# --- the checks --------------------------------------------------------------------------


@each_model
def test_before_learning_it_has_no_opinion(adapter: Adapter) -> None:
    model = adapter.make(SEED)
    rng = _rng(adapter, "cold")
    for x, _ in adapter.samples(rng) + adapter.unusual(rng) + adapter.extremes(rng):
        said = adapter.score(model, x)
        _valid(adapter, said)
        assert set(said.numbers) == {adapter.cold}, f"{adapter.name} on {x!r}: {said}"


@each_model
def test_the_samples_teach_it_something(adapter: Adapter) -> None:
    """A guard for the checks below: the ordinary stream moves the model off "no opinion"."""
    model = adapter.make(SEED)
    rows = adapter.samples(_rng(adapter, "teach"))
    _run(adapter, model, rows)
    assert any(set(adapter.score(model, x).numbers) != {adapter.cold} for x, _ in rows)


@each_model
def test_new_and_missing_keys_are_taken_in_stride(adapter: Adapter) -> None:
    rng = _rng(adapter, "keys")
    rows, odd = adapter.samples(rng), adapter.unusual(rng)
    model = adapter.make(SEED)
    half = len(rows) // 2
    _run(adapter, model, odd)  # when cold
    _run(adapter, model, rows[:half])
    _run(adapter, model, odd)  # and once it has learned
    _run(adapter, model, rows[half:])
    for x, _ in odd + rows:
        _valid(adapter, adapter.score(model, x))


@each_model
def test_scoring_and_learning_leave_the_input_as_it_was(adapter: Adapter) -> None:
    rng = _rng(adapter, "mutation")
    model = adapter.make(SEED)
    for row in adapter.samples(rng) + adapter.unusual(rng) + adapter.extremes(rng):
        before = copy.deepcopy(row)
        adapter.score(model, row[0])
        assert row == before
        adapter.learn(model, *row)
        assert row == before


@each_model
@pytest.mark.parametrize("after", [0, 80], ids=["cold", "warm"])
def test_a_restored_model_says_and_learns_exactly_the_same(adapter: Adapter, after: int) -> None:
    rng = _rng(adapter, "pickle")
    rows = adapter.samples(rng) + adapter.unusual(rng)
    model = adapter.make(SEED)
    _run(adapter, model, rows[:after])
    clones = [pickle.loads(pickle.dumps(model))]
    if adapter.checkpoint is not None:
        clones.append(adapter.checkpoint.loads(model.dumps()))
    assert all(type(clone) is type(model) for clone in clones)
    for x, y in rows[after:]:
        said, learned = adapter.score(model, x), adapter.learn(model, x, y)
        for clone in clones:
            assert adapter.score(clone, x) == said
            assert adapter.learn(clone, x, y) == learned


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if a.checkpoint is not None],
                         ids=[a.name for a in ADAPTERS if a.checkpoint is not None])
def test_a_checkpoint_refuses_a_foreign_blob(adapter: Adapter) -> None:
    assert adapter.checkpoint is not None
    with pytest.raises(CheckpointError):
        adapter.checkpoint.loads(pickle.dumps({"not": "a model"}))
    with pytest.raises(CheckpointError):
        adapter.checkpoint.loads(b"torn")


@each_model
def test_the_same_seed_gives_the_same_run(adapter: Adapter) -> None:
    rng = _rng(adapter, "seed")
    rows = adapter.samples(rng) + adapter.unusual(rng)
    first = _run(adapter, adapter.make(SEED), rows)
    assert _run(adapter, adapter.make(SEED), rows) == first
    if adapter.seed_matters:
        assert _run(adapter, adapter.make(SEED + 1), rows) != first


@each_model
def test_extreme_values_never_give_nan(adapter: Adapter) -> None:
    rng = _rng(adapter, "extreme")
    rows, extremes = adapter.samples(rng), adapter.extremes(rng)
    model = adapter.make(SEED)
    # Extremes when cold, among ordinary rows, twice over, then ordinary rows again.
    third = len(rows) // 3
    _run(adapter, model, extremes + rows[:third] + extremes + rows[third:2 * third] + extremes
         + rows[2 * third:])
    for x, _ in rows + extremes:
        _valid(adapter, adapter.score(model, x))
