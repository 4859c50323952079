"""Pull-back: the earlier leads of a fraud burst, quarantined after they went out.

The first event of a burst looks like any lead when it arrives; only its successors
reveal the burst (`FraudVerdict.implicated`). The ingest agent remembers the leads it
sent unquarantined and, when a verdict implicates some, sends them again on
`leads.scored` as quarantined: the warehouse keeps the newer version
(ReplacingMergeTree by ``scored_ms``) and serving takes them off sale.

Contract:

* `RecentLeads.remember(lead, encoded)` keeps the encoded value of a lead that went out
  unquarantined (quarantined leads are skipped: there is nothing to pull), by
  ``lead_id``, bounded by count (``max_leads``, oldest first out) and by age
  (``max_age_ms`` of processing time, ``scored_ms``). Encoded bytes, not structs: a
  few hundred bytes a lead, and a pull (rare) pays the decode.
* `RecentLeads.pull(verdict, now_ms)` returns each implicated lead still remembered,
  updated by `quarantine_implicated`, and forgets it: a lead implicated again (by
  another key of the same burst) is not sent twice. Implicated leads no longer
  remembered (aged out, or scored before a restart) are counted in ``missed``; the
  worker reads those back from the warehouse instead (`streams.readback`).
* `quarantine_implicated(lead, verdict, now_ms)`: ``quarantined`` True, ``fraud_score``
  the higher of its own and the burst verdict's (so at or over the threshold, like any
  quarantine), ``fraud_reasons`` its own plus the verdict's burst rules (velocity, bot
  timing) in `REASON_CODES` order, ``scored_ms`` newer than before. Nothing else
  changes: the feature snapshot, score and ids stay as they were served.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import msgspec

from schemas.lead import ScoredLead
from streams.fraud.screen import BURST_REASONS, REASON_CODES, FraudVerdict

_decoder = msgspec.json.Decoder(ScoredLead)

#: Defaults: an hour covers the screen's memory of a burst (two generations of twice the
#: 15-minute contact window); 20,000 leads of ~1.5 kB each are ~30 MB at most.
MAX_LEADS = 20_000
MAX_AGE_MS = 60 * 60_000
_EXPIRY_CHECK_MS = 1_000


def quarantine_implicated(lead: ScoredLead, verdict: FraudVerdict, now_ms: int) -> ScoredLead:
    """`lead` as quarantined by the burst `verdict` implicated it in, versioned `now_ms`."""
    burst = {code for code in verdict.reasons if code in BURST_REASONS} or set(verdict.reasons)
    reasons = burst.union(lead.fraud_reasons)
    return msgspec.structs.replace(
        lead,
        quarantined=True,
        fraud_score=max(lead.fraud_score, verdict.score),
        fraud_reasons=[code for code in REASON_CODES if code in reasons]
        + sorted(reasons.difference(REASON_CODES)),
        # The warehouse keeps the highest scored_ms: the pulled version must be newer even
        # when clocks tie or a late lead was scored "after" its implicating successor.
        scored_ms=max(now_ms, lead.scored_ms + 1),
    )


class RecentLeads:
    """Encoded scored leads that went out unquarantined, by lead_id, bounded by count and age."""

    def __init__(self, max_leads: int = MAX_LEADS, max_age_ms: int = MAX_AGE_MS) -> None:
        if max_leads < 1 or max_age_ms < 1:
            raise ValueError("max_leads and max_age_ms must be positive")
        self.max_leads = max_leads
        self.max_age_ms = max_age_ms
        self._leads: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._expire_at = -(2**62)
        self.pulled = 0
        self.missed = 0

    def __len__(self) -> int:
        return len(self._leads)

    def __contains__(self, lead_id: object) -> bool:
        return lead_id in self._leads

    def remember(self, lead: ScoredLead, encoded: bytes) -> None:
        """Keep a lead that was sent unquarantined (quarantined ones are ignored)."""
        if lead.quarantined:
            return
        leads, lead_id, scored_ms = self._leads, lead.lead_id, lead.scored_ms
        if lead_id in leads:
            leads.move_to_end(lead_id)  # a replay refreshes its place
        leads[lead_id] = (scored_ms, encoded)
        if len(leads) > self.max_leads:
            leads.popitem(last=False)
        if scored_ms >= self._expire_at:  # age bound: checked once a second, not per lead
            self._expire(scored_ms)
            self._expire_at = scored_ms + _EXPIRY_CHECK_MS

    def _expire(self, now_ms: int) -> None:
        leads = self._leads
        oldest = now_ms - self.max_age_ms
        while leads:
            first = next(iter(leads))
            if leads[first][0] >= oldest:
                break
            del leads[first]

    def pull(self, verdict: FraudVerdict, now_ms: int) -> list[ScoredLead]:
        """The leads `verdict` implicates that are remembered, quarantined; then forgotten."""
        return [
            quarantine_implicated(lead, verdict, now_ms)
            for lead in self.take(verdict.implicated)
        ]

    def take(self, lead_ids: Iterable[str]) -> list[ScoredLead]:
        """Remove and decode the remembered leads among `lead_ids`."""
        taken: list[ScoredLead] = []
        for lead_id in lead_ids:
            entry = self._leads.pop(lead_id, None)
            if entry is None:
                self.missed += 1
                continue
            taken.append(_decoder.decode(entry[1]))
        self.pulled += len(taken)
        return taken
