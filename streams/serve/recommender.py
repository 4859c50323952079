"""An online recommender: which kinds of lead each buyer acts on, learned from what they do.

Leads are one-off items (each is sold once), so the recommender learns about lead
*segments* instead: ``segment = <res-6 cell>:<property type>:<price band>``, and the
segment's *style* (the same without the cell), which carries a buyer's taste to
areas they have not touched yet. Res-6 (about 36 km²) rather than res-7: a buyer
acts on a few leads a day, and res-7 segments would almost never repeat.

Contract:
- Implicit feedback: every `BuyerInteraction` kind has a weight
  (`INTERACTION_WEIGHTS`: view < save < hold < purchase; release 0; return negative),
  learned by River's `reco.BiasedMF` (users = buyer ids, items = segments and styles).
- `affinity(buyer_id, segment)` is a refinement factor in [0.5, 1.5] for the buyer's
  expected value of a lead in that segment: 1.0 while cold (fewer than `warmup`
  interactions learned, or a buyer it has never seen), else
  ``1 + 0.5 · tanh(r / 2)`` where ``r`` is the predicted feedback less the global mean
  (averaged over the segment and its style when both are known; the style alone for a
  segment never seen). The buyer's bias stays in: MF cannot tell a user bias from an
  item bias shift, only their sum is identified, and a factor common to all of one
  buyer's leads does not change the order of that buyer's ranking. Reading never
  creates model state (River's `predict_one` would).
- Learning is online and recency-weighted (plain SGD): a long run of one kind of
  feedback (say, a day of returns and nothing else) moves every affinity of the buyer.
- Seeded (latent initialisation), pickles (`dumps` / `loads`).
"""

from __future__ import annotations

import math
from typing import Final

import h3.api.basic_int as h3
from river import optim, reco

from schemas.lead import ScoredLead
from streams.checkpoint import Pickled
from streams.serve.pricing import home_value

SEGMENT_RES = 6

INTERACTION_WEIGHTS: Final[dict[str, float]] = {
    "view": 1.0,
    "save": 2.0,
    "hold": 3.0,
    "release": 0.0,  # let go of a hold: neither for nor against
    "purchase": 5.0,
    "return": -3.0,  # bought and sent back: worse than never touching it
}

# Home-value band edges, USD: doubling steps, so a band means the same anywhere.
_BAND_EDGES = (150_000.0, 300_000.0, 600_000.0, 1_200_000.0, 2_400_000.0)
AFFINITY_SPAN = 0.5
AFFINITY_SCALE = 2.0


def price_band(price: float | None, intent: str) -> str:
    """The home-value band of a lead: "p0" (< 150k) … "p5" (≥ 2.4M), "na" when unknown.

    >>> price_band(450_000.0, "buy"), price_band(2_000.0, "rent"), price_band(None, "sell")
    ('p2', 'p2', 'na')
    """
    value = home_value(price, intent)
    if value is None:
        return "na"
    band = 0
    for edge in _BAND_EDGES:
        if value < edge:
            break
        band += 1
    return f"p{band}"


def segment(h3_r7: int, property_type: str | None, price: float | None, intent: str) -> str:
    """The segment of a lead; cell 0 (unlocated) stays 0."""
    cell = h3.cell_to_parent(h3_r7, SEGMENT_RES) if h3_r7 else 0
    return f"{cell:x}:{property_type or 'unknown'}:{price_band(price, intent)}"


def lead_segment(lead: ScoredLead) -> str:
    return segment(lead.h3_r7, lead.property_type, lead.price, lead.intent)


def style_of(segment_id: str) -> str:
    """The segment without its cell: ``"s:" + type + band``."""
    return "s:" + segment_id.partition(":")[2]


class Recommender(Pickled):
    """Buyer-segment affinities learned online from buyer interactions."""

    def __init__(self, n_factors: int = 8, seed: int = 42, warmup: int = 50,
                 learning_rate: float = 0.02) -> None:
        self.seed = seed
        self.warmup = warmup
        self.n_learned = 0
        self.model = reco.BiasedMF(
            n_factors=n_factors,
            bias_optimizer=optim.SGD(learning_rate),
            latent_optimizer=optim.SGD(learning_rate),
            l2_bias=0.01,
            l2_latent=0.01,
            latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
            seed=seed,
        )

    @property
    def ready(self) -> bool:
        return self.n_learned >= self.warmup

    def learn_one(self, buyer_id: str, segment_id: str, kind: str) -> None:
        """Learn one interaction (unknown kinds are ignored: they say nothing about taste)."""
        weight = INTERACTION_WEIGHTS.get(kind)
        if weight is None:
            return
        self.model.learn_one(buyer_id, segment_id, weight)
        self.model.learn_one(buyer_id, style_of(segment_id), weight)
        self.n_learned += 1

    def _relative(self, buyer_id: str, item: str) -> float | None:
        # `.get` on River's defaultdicts: a read must not add the item to the model.
        m = self.model
        item_bias = m.i_biases.get(item)
        if item_bias is None:
            return None
        return (m.u_biases[buyer_id] + item_bias
                + float(m.u_latents[buyer_id] @ m.i_latents[item]))

    def affinity(self, buyer_id: str, segment_id: str) -> float:
        """Refinement factor in [0.5, 1.5] for `buyer_id` on `segment_id` (1.0 when cold)."""
        if not self.ready or buyer_id not in self.model.u_biases:
            return 1.0
        local = self._relative(buyer_id, segment_id)
        broad = self._relative(buyer_id, style_of(segment_id))
        if local is None and broad is None:
            return 1.0
        relative = broad if local is None else local if broad is None else (local + broad) / 2
        return 1.0 + AFFINITY_SPAN * math.tanh(relative / AFFINITY_SCALE)
