"""What a traffic run sent, and what each event should become: the reconciliation record.

`ProduceSummary` counts events by source and by expected outcome (``valid`` or a
reason code), outcomes by kind, and deliveries; it also keeps a manifest (the
lead ids of valid events with their hidden ``p``, the malformed events with
their expected reason, the outcomes sent) for at most `manifest_limit` events,
so endless demo traffic stays in bounded memory. `render()` is the table
`aiqleads produce` prints; `write_manifest()` writes it all as JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from schemas.outcome import Outcome
from streams.traffic.generator import GeneratedEvent


@dataclass
class ProduceSummary:
    sources: tuple[str, ...]
    topics: dict[str, str]  # source -> physical topic
    outcomes_topic: str
    seed: int
    manifest_limit: int = 1_000_000
    events_by_source: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)  # "valid" or a reason code
    rejected_by_source: Counter[str] = field(default_factory=Counter)
    outcome_kinds: Counter[str] = field(default_factory=Counter)
    outcomes_pending: int = 0  # scheduled but not sent: the run was stopped
    engagement_sent: int = 0  # engagement events of the leads' people (`engagement.events`)
    handed_over: int = 0  # messages (leads and outcomes) given to the Kafka producer
    delivered: int = 0  # acknowledged by the broker (known once the producer is flushed)
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0  # the whole run, outcomes included
    leads_elapsed_s: float = 0.0  # until the last lead event was handed to the producer
    interrupted: bool = False
    # The manifest: what a consumer of the topics should find.
    valid_leads: list[tuple[str, str, float]] = field(default_factory=list)  # lead_id, source, p
    rejected: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # lead_id, kind
    manifest_truncated: bool = False

    @property
    def events(self) -> int:
        return sum(self.events_by_source.values())

    @property
    def outcomes_sent(self) -> int:
        return sum(self.outcome_kinds.values())

    @property
    def outcomes_positive(self) -> int:
        return self.outcome_kinds["conversion"] + self.outcome_kinds["purchase"]

    @property
    def rate(self) -> float:
        """Lead events per second achieved."""
        return self.events / self.leads_elapsed_s if self.leads_elapsed_s > 0 else 0.0

    def record_event(self, event: GeneratedEvent) -> None:
        self.events_by_source[event.source] += 1
        self.expected[event.expected] += 1
        if not event.valid:
            self.rejected_by_source[event.source] += 1
        if self.events > self.manifest_limit:
            self.manifest_truncated = True
        elif event.valid:
            assert event.lead_id is not None
            self.valid_leads.append((event.lead_id, event.source, round(event.p, 6)))
        else:
            self.rejected.append(
                {
                    "source": event.source,
                    "key": event.key.decode() if event.key is not None else None,
                    "lead_id": event.lead_id,
                    "expected": event.expected,
                    "defect": event.defect,
                }
            )

    def record_outcome(self, outcome: Outcome) -> None:
        self.outcome_kinds[outcome.kind] += 1
        if len(self.outcomes) < self.manifest_limit:
            self.outcomes.append((outcome.lead_id, outcome.kind))

    def record_failure(self, reason: str, count: int = 1) -> None:
        self.failed += count
        self.failures[reason] += count

    def render(self) -> str:
        """The small text table `aiqleads produce` prints."""
        lines = [
            f"sent {self.events:,} lead events in {self.leads_elapsed_s:.2f} s "
            f"({self.rate:,.0f} events/s), seed {self.seed}"
            + (" — stopped early" if self.interrupted else ""),
            "",
            f"{'source':<12}{'topic':<36}{'events':>10}{'valid':>10}{'rejected':>10}",
        ]
        for source in self.sources:
            n, bad = self.events_by_source[source], self.rejected_by_source[source]
            lines.append(f"{source:<12}{self.topics[source]:<36}{n:>10,}{n - bad:>10,}{bad:>10,}")
        lines += ["", f"{'expected':<24}{'events':>10}{'share':>9}"]
        for code, n in sorted(self.expected.items(), key=lambda kv: (kv[0] != "valid", -kv[1])):
            lines.append(f"{code:<24}{n:>10,}{n / max(self.events, 1):>9.1%}")
        positives = self.outcomes_positive
        lines += [
            "",
            f"outcomes   {self.outcomes_sent:,} sent to {self.outcomes_topic}"
            f" ({positives:,} positive: {self.outcome_kinds['conversion']:,} conversion,"
            f" {self.outcome_kinds['purchase']:,} purchase), {self.outcomes_pending:,} pending",
            f"engagement {self.engagement_sent:,} events",
            f"delivery   {self.delivered:,} delivered, {self.failed:,} failed"
            f" in {self.elapsed_s:.2f} s",
        ]
        lines += [f"  {n:,}x {reason}" for reason, n in self.failures.most_common(5)]
        return "\n".join(lines)

    def to_dict(self, *, manifest: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sources": list(self.sources),
            "topics": self.topics,
            "outcomes_topic": self.outcomes_topic,
            "seed": self.seed,
            "events": self.events,
            "events_by_source": dict(self.events_by_source),
            "expected": dict(self.expected),
            "outcomes_sent": self.outcomes_sent,
            "outcomes_positive": self.outcomes_positive,
            "outcome_kinds": dict(self.outcome_kinds),
            "outcomes_pending": self.outcomes_pending,
            "engagement_sent": self.engagement_sent,
            "handed_over": self.handed_over,
            "delivered": self.delivered,
            "failed": self.failed,
            "failures": dict(self.failures),
            "elapsed_s": round(self.elapsed_s, 3),
            "leads_elapsed_s": round(self.leads_elapsed_s, 3),
            "rate": round(self.rate, 1),
            "interrupted": self.interrupted,
        }
        if manifest:
            data["manifest_truncated"] = self.manifest_truncated
            data["valid_leads"] = [
                {"lead_id": lid, "source": s, "p": p} for lid, s, p in self.valid_leads
            ]
            data["rejected"] = self.rejected
            data["outcomes"] = [{"lead_id": lid, "kind": k} for lid, k in self.outcomes]
        return data

    def write_manifest(self, path: Path | str) -> None:
        """The summary and the manifest as one JSON document."""
        Path(path).write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))
