"""Generated leads scored through the real ingest path and labelled by the hidden truth.

The simulator's side of `aiqleads evaluate` and the learning benchmarks: the same
`ingest_one` and feature stores as the worker, so the features are production's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from streams.errors import LeadRejected
from streams.features.build import FeatureStores, feature_stores
from streams.features.competitors import load_competitors
from streams.fraud.screen import FraudScreen
from streams.ingest import IngestConfig, IngestState, ingest_one
from streams.scoring.arms import Scorer
from streams.scoring.evaluate import Labelled
from streams.traffic.engagement import ENGAGEMENT_SEED_SALT, engagement_for
from streams.traffic.generator import SOURCE_WEIGHTS, TrafficGenerator


def scored_traffic(
    scorer: Scorer,
    count: int,
    *,
    seed: int = 1,
    sources: Sequence[str] = tuple(SOURCE_WEIGHTS),  # all five
    start: datetime | None = None,
    seconds_per_lead: float = 30.0,
    stores: FeatureStores | None = None,
) -> Iterator[Labelled]:
    """`count` generated leads scored by `ingest_one`, with the generator's outcomes.

    The clock moves `seconds_per_lead` a lead from `start` (default: now less the span),
    so hours of day vary as in live traffic (the truth has an hour term) and windows such
    as dedupe and fraud velocity see realistic gaps. Features come from the worker's
    stores (`stores`, default: fresh ones with the bundled competitor offices), fed with
    each person's synthetic engagement.
    """
    span = timedelta(seconds=seconds_per_lead * count)
    first = start or datetime.now(UTC) - span
    now = first

    def clock() -> datetime:
        return now

    generator = TrafficGenerator(sources, seed=seed, malformed_share=0.0, clock=clock)
    stores = stores or feature_stores(offices=load_competitors(None))
    state = IngestState(scorer=scorer, screen=FraudScreen(seed=seed), first_lead_by_contact={},
                        stores=stores.all)
    engagement_rng = random.Random(seed ^ ENGAGEMENT_SEED_SALT)
    config = IngestConfig()
    step = timedelta(seconds=seconds_per_lead)
    labelled = 0
    while labelled < count:
        now += step
        event = generator.next_event()
        # The person's engagement first, as `aiqleads produce` sends it (the book only
        # counts what happened before the lead's arrival).
        for engagement in engagement_for(event, engagement_rng):
            stores.behaviour.observe_event(engagement)
        try:
            lead = ingest_one(event.source, event.value, received=now, produced_ms=0,
                              config=config, state=state, headers=event.headers)
        except LeadRejected:
            continue
        _, outcome = generator.outcome(event, 0.0)
        labelled += 1
        yield Labelled(lead.features, outcome.converted, lead.score, event.p)
