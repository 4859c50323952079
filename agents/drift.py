"""Schema drift: a Faust sensor samples the raw topics, a timer publishes `schemas.drift`.

Why a sensor and not an agent: a second agent on `leads.raw.*` pays Faust's per-event
stream cost (~20 µs, as much as the whole ingest stage) for every event. A sensor's
`on_stream_event_in` runs inside the ingest stream's own iteration; for 9 in 10 events
it is a counter step (a fraction of a µs), and the 10th is decoded with orjson and
profiled (`streams.drift`). The ingest agent needs no change. The sensor never raises
(a raise would stop the stream); each worker profiles the partitions it owns.

Drift found is counted at once (`aiq_schema_drift_total{source,kind,field}`) and queued;
the timer sends the queue to `schemas.drift` (keyed by source) every second.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import faust
from faust.sensors import Sensor
from faust.types import TP, EventT, StreamT

from agents.topics import Topics
from infra.metrics import SCHEMA_DRIFT
from infra.settings import Settings
from schemas.codec import encode
from schemas.contract import RAW_PREFIX, SOURCES
from schemas.drift import DriftEvent
from streams.drift import DriftConfig, DriftMonitor

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 1.0
MAX_PENDING = 1000  # drift events waiting for the timer; the oldest go first when full


class DriftSensor(Sensor):
    """Profiles every `sample_every`-th event of each raw topic."""

    def __init__(
        self, sources_by_topic: dict[str, str], monitor: DriftMonitor, sample_every: int
    ) -> None:
        super().__init__()
        self.sources_by_topic = dict(sources_by_topic)
        self.monitor = monitor
        self.sample_every = max(1, sample_every)
        self.pending: deque[DriftEvent] = deque(maxlen=MAX_PENDING)
        self._seen = dict.fromkeys(sources_by_topic, 0)
        self._failures = 0

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT, event: EventT
    ) -> dict | None:
        self.sample(tp.topic, tp.partition, offset, event.value)
        return None

    def sample(self, topic: str, partition: int, offset: int, value: object) -> None:
        """Count one raw event, profile every `sample_every`-th (also called by the batched
        raw → scored loop, which Faust's stream sensors never see)."""
        seen = self._seen.get(topic)
        if seen is None:  # not a raw topic
            return
        self._seen[topic] = seen + 1
        if seen % self.sample_every:
            return
        try:
            self.observe(self.sources_by_topic[topic], value, time.time())
        except Exception:  # observability must never stop ingest
            self._failures += 1
            if self._failures == 1 or self._failures % 10_000 == 0:
                log.exception("drift profiling failed (%d times) at %s[%d]@%d",
                              self._failures, topic, partition, offset)

    def observe(self, source: str, raw: object, now: float) -> list[DriftEvent]:
        if not isinstance(raw, bytes):
            return []
        found = self.monitor.observe(source, raw, now)
        for drift in found:
            SCHEMA_DRIFT.labels(drift.source, drift.kind, drift.field).inc()
            log.warning("schema drift in %s: %s", drift.source, drift.detail)
            self.pending.append(drift)
        return found


def register(app: faust.App, topics: Topics, settings: Settings) -> DriftSensor:
    config = DriftConfig(
        window_events=settings.drift_window_events,
        window_seconds=settings.drift_window_seconds,
        max_bytes=settings.max_event_bytes,
    )
    sensor = DriftSensor(
        {settings.topic(f"{RAW_PREFIX}{source}"): source for source in SOURCES},
        DriftMonitor(config),
        settings.drift_sample_every,
    )
    app.sensors.add(sensor)

    @app.timer(PUBLISH_SECONDS, name="publish_schema_drift")
    async def publish_schema_drift() -> None:
        while sensor.pending:
            drift = sensor.pending.popleft()
            await topics.drift.send(key=drift.source.encode(), value=encode(drift))

    return sensor
