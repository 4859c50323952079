"""Market penetration per H3 res-7 cell: each buyer's and brokerage's share of the cell's leads.

Contract (`PenetrationBook`, a `LeadFeatureStore`; memory `half_life_hours`):
- `observe` counts a lead in its cell; `observe_interaction` counts a `purchase`
  for the buyer and their brokerage in the interaction's cell (`h3_r7`), and a
  `return` takes one back; other kinds do not change shares.
- `buyer_share(cell, buyer_id)` / `brokerage_share(cell, brokerage_id)`: decayed
  purchases / decayed leads of the cell (purchases when they outnumber the leads
  counted, e.g. after a restart), so the shares of a cell sum to at most 1.
- Features (`pen_`): `pen_top_share` = the largest buyer share in the lead's cell;
  `pen_hhi` = Herfindahl index of the buyers' shares *of the purchases* (1 = one
  buyer takes everything bought there, 0 = nothing bought). Unlocated leads and
  cells without purchases get zeros.
- Bounded: at most `MAX_BUYERS` buyers and `MAX_BROKERAGES` brokerages a cell (the
  smallest dropped). Key `str(cell)`; `sweep(now_ms)` drops faded cells.

Decay is forward decay: an event at time t adds 2^((t - t0) / half_life) for the
cell's reference t0, so old counts never need touching and ratios of counts are
already the ratios of decayed counts.
"""

from __future__ import annotations

from typing import Any

from schemas.lead import Lead
from schemas.market import BuyerInteraction
from streams.enrich import H3Cells
from streams.features.store import DirtyKeys, Features

HOUR_MS = 3_600_000
MAX_BUYERS = 64
MAX_BROKERAGES = 32
_RESCALE_AT = 2.0**40  # beyond this a cell's weights move their reference forward

NO_PENETRATION: Features = {"pen_top_share": 0.0, "pen_hhi": 0.0}


class _Shares:
    __slots__ = ("brokerages", "buyers", "leads", "purchases", "sumsq", "t0", "top")

    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self.leads = 0.0
        self.buyers: dict[str, float] = {}
        self.brokerages: dict[str, float] = {}
        self.purchases = self.top = self.sumsq = 0.0  # cached from `buyers`

    def summarise(self) -> None:
        values = self.buyers.values()
        self.purchases = sum(values)
        self.top = max(values, default=0.0)
        self.sumsq = sum(v * v for v in values)

    def rescale(self, factor: float, t0: int) -> None:
        self.t0 = t0
        self.leads *= factor
        for counts in (self.buyers, self.brokerages):
            for key in counts:
                counts[key] *= factor
        self.summarise()

    def denominator(self) -> float:
        return max(self.leads, self.purchases)


def _add(counts: dict[str, float], key: str, amount: float, cap: int) -> None:
    value = max(0.0, counts.get(key, 0.0) + amount)
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)
    if len(counts) > cap:
        del counts[min(counts, key=counts.__getitem__)]


class PenetrationBook:
    """Who buys the leads of each res-7 cell, decayed over time."""

    def __init__(self, half_life_hours: float = 168.0) -> None:
        if half_life_hours <= 0:
            raise ValueError("half_life_hours must be positive")
        self.half_life_ms = half_life_hours * HOUR_MS
        self._cells: dict[int, _Shares] = {}
        self._dirty = DirtyKeys()

    def _weight(self, shares: _Shares, at_ms: int) -> float:
        weight = 2.0 ** ((at_ms - shares.t0) / self.half_life_ms)
        if weight > _RESCALE_AT:
            shares.rescale(1.0 / weight, at_ms)
            weight = 1.0
        return weight

    def _shares(self, cell: int, at_ms: int) -> _Shares:
        shares = self._cells.get(cell)
        if shares is None:
            shares = self._cells[cell] = _Shares(at_ms)
        return shares

    def buyer_share(self, cell_r7: int, buyer_id: str) -> float:
        shares = self._cells.get(cell_r7)
        if shares is None or not shares.purchases:
            return 0.0
        return shares.buyers.get(buyer_id, 0.0) / shares.denominator()

    def brokerage_share(self, cell_r7: int, brokerage_id: str) -> float:
        shares = self._cells.get(cell_r7)
        if shares is None or not shares.brokerages:
            return 0.0
        # A brokerage's purchases can outnumber the summed buyers' once small buyers are dropped.
        denominator = max(shares.denominator(), sum(shares.brokerages.values()))
        return shares.brokerages.get(brokerage_id, 0.0) / denominator

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        shares = self._cells.get(cells.r7) if cells.r7 else None
        if shares is None or not shares.purchases:
            return dict(NO_PENETRATION)
        return {"pen_top_share": shares.top / shares.denominator(),
                "pen_hhi": shares.sumsq / (shares.purchases * shares.purchases)}

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        if not cells.r7:
            return
        shares = self._shares(cells.r7, now_ms)
        weight = self._weight(shares, now_ms)  # first: it may rescale the cell's counts
        shares.leads += weight
        self._dirty.touch(str(cells.r7))

    def observe_interaction(self, interaction: BuyerInteraction) -> bool:
        """Count a purchase (or take back a return); False when it changes nothing."""
        if not interaction.h3_r7 or interaction.kind not in ("purchase", "return"):
            return False
        shares = self._shares(interaction.h3_r7, interaction.occurred_ms)
        weight = self._weight(shares, interaction.occurred_ms)
        amount = weight if interaction.kind == "purchase" else -weight
        _add(shares.buyers, interaction.buyer_id, amount, MAX_BUYERS)
        if interaction.brokerage_id:
            _add(shares.brokerages, interaction.brokerage_id, amount, MAX_BROKERAGES)
        shares.summarise()
        self._dirty.touch(str(interaction.h3_r7))
        return True

    def sweep(self, now_ms: int) -> int:
        """Forget cells whose leads and purchases have faded (six half-lives); returns how many."""
        gone = []
        for cell, shares in self._cells.items():
            fade = 2.0 ** ((shares.t0 - now_ms) / self.half_life_ms)
            if max(shares.leads, shares.purchases) * fade < 1.0 / 64:
                gone.append(cell)
        for cell in gone:
            del self._cells[cell]
            self._dirty.touch(str(cell))
        return len(gone)

    def take_dirty(self) -> list[str]:
        return self._dirty.take()

    def export(self, key: str) -> Any | None:
        shares = self._cells.get(int(key))
        if shares is None:
            return None
        return {"t0": shares.t0, "n": shares.leads, "b": dict(shares.buyers),
                "k": dict(shares.brokerages)}

    def restore(self, key: str, value: Any) -> None:
        shares = _Shares(int(value["t0"]))
        shares.leads = float(value["n"])
        shares.buyers = {str(b): float(v) for b, v in value["b"].items()}
        shares.brokerages = {str(b): float(v) for b, v in value["k"].items()}
        shares.summarise()
        self._cells[int(key)] = shares
