"""Market context per H3 res-7 cell: price level, trend, volatility, demand, velocity, competition.

Contract (`MarketBook`, a `LeadFeatureStore`; memory `half_life_hours`, i.e.
every statistic weighs an event by 2^(-age / half_life)):

- Prices are tracked as log price, separately for sales and rents (a rent is a
  monthly price; `price_kind`), *adjusted for property type*: a global offset per
  type (condos list below houses in every area) is learned online as the mean
  residual of that type against its cell, and subtracted. Per cell and kind an
  exponentially weighted regression of adjusted log price on time gives the
  level (EW mean), the trend (EW slope) and the volatility (EW standard deviation).
- Sparse cells borrow strength: a cell's level is shrunk towards its res-5 parent,
  and that towards the country, each with `PRIOR_LEADS` pseudo-leads, so one
  odd listing in a new cell does not define "the area's price".
- Features (`mkt_`): `mkt_price_rel` = log(lead price / the expected price of its
  kind and type in its cell), clipped to [-2, 2], 0 when unknown;
  `mkt_price_rel_sq` its square (a linear model needs it to learn that leads
  priced like their area convert best, in either direction);
  `mkt_trend` = EW slope in log price per 30 days (shrunk by its standard error,
  so noise reads as no trend), clipped to [-1, 1];
  `mkt_volatility` = EW std of adjusted log price (clipped to [0, 2]);
  `mkt_demand` = log(inquiries per distinct listing) over the memory;
  `mkt_velocity` = log1p(leads per hour, decayed); `mkt_competition` =
  log1p(distinct buyers who interacted with the cell's leads within one half-life).
  Unlocated leads get zeros (no area, no context).
- State per cell is bounded (`MAX_LISTINGS` listings, `MAX_BUYERS` buyers kept,
  least recently seen dropped first). Keys: `str(res-7 or res-5 cell)`, `"global"`,
  `"types"`; `sweep(now_ms)` drops cells whose memory has faded.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import h3.api.basic_int as h3

from schemas.lead import Lead
from schemas.market import BuyerInteraction
from streams.enrich import H3Cells
from streams.features.store import DirtyKeys, Features

HOUR_MS = 3_600_000
SALE, RENT = "sale", "rent"
RENT_CEILING = 20_000.0  # an unknown-intent lead asking less than this is about a rent
PRIOR_LEADS = 4.0  # pseudo-leads of the parent level in a cell's price level
TREND_HORIZON_HOURS = 720.0  # the trend feature is per 30 days
MIN_VOLATILITY_WEIGHT = 3.0
OUTLIER_SDS = 3.0  # a price this many standard deviations off moves the level as if it were at
MAX_LISTINGS = 64
MAX_BUYERS = 128
TYPE_MEMORY = 1_000  # leads of a type behind its price offset
TYPE_SETTLED = 20  # leads of a type after which its residuals are clipped around its offset
GLOBAL, TYPES = "global", "types"

NEUTRAL: Features = {
    "mkt_price_rel": 0.0, "mkt_price_rel_sq": 0.0, "mkt_trend": 0.0, "mkt_volatility": 0.0,
    "mkt_demand": 0.0, "mkt_velocity": 0.0, "mkt_competition": 0.0,
}  # fmt: skip


def price_kind(lead: Lead) -> str:
    """"rent" for monthly rents, else "sale" (buy, sell, or an unknown intent at a sale price)."""
    if lead.intent == "rent":
        return RENT
    if lead.intent == "unknown" and lead.price is not None and 0 < lead.price < RENT_CEILING:
        return RENT
    return SALE


@lru_cache(maxsize=1 << 16)
def _parent5(cell_r7: int) -> int:
    return h3.cell_to_parent(cell_r7, 5)


class _Prices:
    """Exponentially weighted regression of adjusted log price on time (hours)."""

    __slots__ = ("ctt", "cty", "cyy", "last_h", "t", "w", "y")

    def __init__(self) -> None:
        self.w = 0.0  # weight as of last_h
        self.t = self.y = 0.0  # weighted means of time and log price
        self.ctt = self.cty = self.cyy = 0.0  # weighted (co)variance sums
        self.last_h = -math.inf

    def weight(self, now_h: float, half_life_h: float) -> float:
        if now_h <= self.last_h:
            return self.w
        return self.w * 2.0 ** ((self.last_h - now_h) / half_life_h)

    def add(self, hour: float, y: float, half_life_h: float) -> None:
        w, mean_t, mean_y = self.w, self.t, self.y
        if w >= MIN_VOLATILITY_WEIGHT:
            # A typo'd price (an extra zero) must not drag the level: clip it to the tails.
            spread = OUTLIER_SDS * max(math.sqrt(self.cyy / w), 0.1)
            y = min(max(y, mean_y - spread), mean_y + spread)
        if hour > self.last_h:
            decay = 2.0 ** ((self.last_h - hour) / half_life_h) if w else 0.0
            self.last_h = hour
        else:
            decay = 1.0  # late event: no fading, its own time still enters the trend
        w = w * decay + 1.0
        dt, dy = hour - mean_t, y - mean_y
        mean_t += dt / w
        mean_y += dy / w
        # West's weighted update: old sums fade with the weights, then the new point adds.
        self.ctt = self.ctt * decay + dt * (hour - mean_t)
        self.cty = self.cty * decay + dt * (y - mean_y)
        self.cyy = self.cyy * decay + dy * (y - mean_y)
        self.w, self.t, self.y = w, mean_t, mean_y

    def sd(self) -> float:
        return math.sqrt(max(self.cyy, 0.0) / self.w) if self.w else 0.0

    def slope(self) -> float:
        """Log price per hour, shrunk towards 0 unless it stands out from the noise.

        The least-squares slope b is scaled by b² / (b² + 4 se²): a slope of two standard
        errors keeps half its size, pure noise (|b| ~ se) a fifth, a clear trend nearly all.
        """
        if self.w < MIN_VOLATILITY_WEIGHT or self.ctt <= 1e-9:
            return 0.0
        b = self.cty / self.ctt
        noise = max(self.cyy - b * self.cty, 0.0) / self.w  # residual variance
        se2 = noise / self.ctt
        return b * b * b / (b * b + 4.0 * se2) if b else 0.0

    def export(self) -> list[float]:
        return [self.w, self.t, self.y, self.ctt, self.cty, self.cyy, self.last_h]

    @classmethod
    def restore(cls, value: list[float]) -> _Prices:
        prices = cls()
        (prices.w, prices.t, prices.y, prices.ctt, prices.cty, prices.cyy,
         prices.last_h) = (float(v) for v in value)
        return prices


class _Cell:
    """One area's market memory (res-5 and global levels use only `prices`)."""

    __slots__ = ("buyers", "inquiries", "last_ms", "leads", "listings", "new_listings", "prices")

    def __init__(self) -> None:
        self.last_ms = 0
        self.leads = 0.0  # decayed, as of last_ms
        self.inquiries = 0.0  # leads about a listing, decayed
        self.new_listings = 0.0  # distinct listings first asked about, decayed
        self.listings: dict[str, int] = {}  # listing → last asked ms, oldest first
        self.buyers: dict[str, int] = {}  # buyer → last interaction ms, oldest first
        self.prices: dict[str, _Prices] = {}

    def export(self) -> dict[str, Any]:
        value: dict[str, Any] = {"p": {k: p.export() for k, p in self.prices.items()}}
        if self.last_ms or self.buyers:
            value.update(t=self.last_ms, n=self.leads, i=self.inquiries, l=self.new_listings,
                         L=list(self.listings.items()), B=list(self.buyers.items()))
        return value

    @classmethod
    def restore(cls, value: dict[str, Any]) -> _Cell:
        cell = cls()
        cell.prices = {k: _Prices.restore(v) for k, v in value.get("p", {}).items()}
        cell.last_ms = int(value.get("t", 0))
        cell.leads = float(value.get("n", 0.0))
        cell.inquiries = float(value.get("i", 0.0))
        cell.new_listings = float(value.get("l", 0.0))
        cell.listings = {str(k): int(ms) for k, ms in value.get("L", [])}
        cell.buyers = {str(k): int(ms) for k, ms in value.get("B", [])}
        return cell


def _touch(recent: dict[str, int], key: str, ms: int, cap: int) -> bool:
    """Mark `key` seen at `ms` (most recent last); True if it was not there."""
    last = recent.pop(key, None)
    recent[key] = ms if last is None else max(last, ms)
    if len(recent) > cap:
        del recent[next(iter(recent))]
    return last is None


class MarketBook:
    """Market context of res-7 cells from the leads and buyer interactions seen there."""

    def __init__(self, half_life_hours: float = 168.0) -> None:
        if half_life_hours <= 0:
            raise ValueError("half_life_hours must be positive")
        self.half_life_h = half_life_hours
        self.half_life_ms = half_life_hours * HOUR_MS
        self._cells: dict[int, _Cell] = {}  # res-7 and res-5 cells
        self._global = _Cell()
        self._type_offsets: dict[str, list[float]] = {}  # type → [offset, leads seen]
        self._read: tuple[Lead | None, int, float | None] = (None, 0, None)
        self._dirty = DirtyKeys()

    # --- reading ---------------------------------------------------------------------

    def _fade(self, cell: _Cell, now_ms: int) -> float:
        if now_ms <= cell.last_ms:
            return 1.0
        return 2.0 ** ((cell.last_ms - now_ms) / self.half_life_ms)

    def _levels(self, cell_r7: int, kind: str) -> tuple[_Prices | None, ...]:
        """The kind's price statistics from the broadest level (country) to the cell."""
        cells = self._cells
        parent, own = cells.get(_parent5(cell_r7)), cells.get(cell_r7)
        return (self._global.prices.get(kind), None if parent is None else parent.prices.get(kind),
                None if own is None else own.prices.get(kind))

    def _context(self, cell_r7: int, kind: str, now_ms: int) -> tuple[float | None, float, float]:
        """(expected adjusted log price or None, volatility, trend) of a kind in a cell."""
        now_h = now_ms / HOUR_MS
        level: float | None = None
        volatility = 0.0
        levels = self._levels(cell_r7, kind)
        for prices in levels:
            if prices is None or not prices.w:
                continue
            w = prices.weight(now_h, self.half_life_h)
            # Each level is shrunk towards the broader one by PRIOR_LEADS pseudo-leads.
            level = prices.y if level is None else (w * prices.y + PRIOR_LEADS * level) / (
                w + PRIOR_LEADS)
            if w >= MIN_VOLATILITY_WEIGHT:
                volatility = prices.sd()  # the most local level with enough leads wins
        own = levels[2]
        trend = 0.0 if own is None else own.slope() * TREND_HORIZON_HOURS
        return level, min(volatility, 2.0), min(1.0, max(-1.0, trend))

    def expected_log_price(self, cell_r7: int, kind: str, now_ms: int) -> float | None:
        """The type-adjusted log price level of `kind` in the cell, shrunk towards its parents."""
        return self._context(cell_r7, kind, now_ms)[0]

    def type_offset(self, property_type: str | None) -> float:
        entry = self._type_offsets.get(property_type or "")
        return entry[0] if entry is not None else 0.0

    def price_rel(self, lead: Lead, cell_r7: int, now_ms: int) -> float | None:
        """log(price / expected price of its kind, type and cell), in [-2, 2]; None if unknown."""
        if not cell_r7:
            return None
        return self._price_rel(lead, self.expected_log_price(cell_r7, price_kind(lead), now_ms))

    def _price_rel(self, lead: Lead, level: float | None) -> float | None:
        if level is None or not lead.price or lead.price <= 0:
            return None
        rel = math.log(lead.price) - self.type_offset(lead.property_type) - level
        return min(2.0, max(-2.0, rel))

    def active_buyers(self, cell_r7: int, now_ms: int) -> int:
        cell = self._cells.get(cell_r7)
        if cell is None or not cell.buyers:
            return 0
        since = now_ms - self.half_life_ms
        stale = 0
        for last in cell.buyers.values():  # least recently seen first
            if last >= since:
                break
            stale += 1
        return len(cell.buyers) - stale

    def features(self, lead: Lead, cells: H3Cells, now_ms: int) -> Features:
        cell_r7 = cells.r7
        if not cell_r7:
            return dict(NEUTRAL)
        kind = price_kind(lead)
        level, volatility, trend = self._context(cell_r7, kind, now_ms)
        self._read = (lead, now_ms, level)  # `observe` of the same lead reuses the level
        rel = self._price_rel(lead, level) or 0.0
        demand = velocity = 0.0
        cell = self._cells.get(cell_r7)
        if cell is not None and cell.last_ms:
            if cell.new_listings > 0:
                demand = min(5.0, math.log(max(1.0, cell.inquiries / cell.new_listings)))
            per_hour = cell.leads * self._fade(cell, now_ms) * math.log(2) / self.half_life_h
            velocity = math.log1p(per_hour)
        return {
            "mkt_price_rel": rel, "mkt_price_rel_sq": rel * rel, "mkt_trend": trend,
            "mkt_volatility": volatility, "mkt_demand": demand, "mkt_velocity": velocity,
            "mkt_competition": math.log1p(self.active_buyers(cell_r7, now_ms)),
        }  # fmt: skip

    # --- learning --------------------------------------------------------------------

    def _cell(self, cell: int) -> _Cell:
        found = self._cells.get(cell)
        if found is None:
            found = self._cells[cell] = _Cell()
        return found

    def observe(self, lead: Lead, cells: H3Cells, now_ms: int) -> None:
        cell_r7 = cells.r7
        if not cell_r7:
            return
        cell = self._cell(cell_r7)
        fade = self._fade(cell, now_ms) if cell.last_ms else 0.0
        cell.leads = cell.leads * fade + 1.0
        cell.inquiries *= fade
        cell.new_listings *= fade
        cell.last_ms = max(cell.last_ms, now_ms)
        if lead.listing_id:
            cell.inquiries += 1.0
            # A listing not asked about for two half-lives counts as new again.
            known = cell.listings.get(lead.listing_id)
            if known is None or now_ms - known > 2 * self.half_life_ms:
                cell.new_listings += 1.0
            _touch(cell.listings, lead.listing_id, now_ms, MAX_LISTINGS)
        self._dirty.touch(str(cell_r7))
        if lead.price and lead.price > 0:
            self._observe_price(lead, cell_r7, cell, now_ms)

    def _observe_price(self, lead: Lead, cell_r7: int, cell: _Cell, now_ms: int) -> None:
        kind = price_kind(lead)
        log_price = math.log(lead.price or 1.0)
        ptype = lead.property_type or ""
        read_lead, read_ms, level = self._read
        if read_lead is not lead or read_ms != now_ms:
            level = self.expected_log_price(cell_r7, kind, now_ms)
        offset = self._type_offsets.setdefault(ptype, [0.0, 0.0])
        if level is not None:
            # The type's offset is its mean residual against the area's (adjusted) level;
            # residuals are clipped (a typo'd price is not news about condos).
            residual = log_price - level
            if offset[1] >= TYPE_SETTLED:
                residual = min(max(residual, offset[0] - 1.0), offset[0] + 1.0)
            offset[1] = min(offset[1] + 1.0, TYPE_MEMORY)
            offset[0] += (min(max(residual, -2.0), 2.0) - offset[0]) / offset[1]
            self._dirty.touch(TYPES)
        y = log_price - offset[0]
        hour = now_ms / HOUR_MS
        parent = _parent5(cell_r7)
        for area in (cell, self._cell(parent), self._global):
            prices = area.prices.get(kind)
            if prices is None:
                prices = area.prices[kind] = _Prices()
            prices.add(hour, y, self.half_life_h)
        self._dirty.touch(str(parent))
        self._dirty.touch(GLOBAL)

    def observe_interaction(self, interaction: BuyerInteraction) -> bool:
        """Count the buyer as active in the lead's cell; False when the cell is unknown."""
        if not interaction.h3_r7:
            return False
        cell = self._cell(interaction.h3_r7)
        _touch(cell.buyers, interaction.buyer_id, interaction.occurred_ms, MAX_BUYERS)
        self._dirty.touch(str(interaction.h3_r7))
        return True

    def sweep(self, now_ms: int) -> int:
        """Forget cells whose leads, prices and buyers have all faded; returns how many."""
        now_h = now_ms / HOUR_MS
        faded = 1.0 / 64  # six half-lives
        gone = [
            key for key, cell in self._cells.items()
            if cell.leads * self._fade(cell, now_ms) < faded
            and all(p.weight(now_h, self.half_life_h) < faded for p in cell.prices.values())
            and self.active_buyers(key, now_ms) == 0
        ]  # fmt: skip
        for key in gone:
            del self._cells[key]
            self._dirty.touch(str(key))
        return len(gone)

    # --- persistence -----------------------------------------------------------------

    def take_dirty(self) -> list[str]:
        return self._dirty.take()

    def export(self, key: str) -> Any | None:
        if key == TYPES:
            return {t: list(v) for t, v in self._type_offsets.items()}
        if key == GLOBAL:
            return self._global.export()
        cell = self._cells.get(int(key))
        return None if cell is None else cell.export()

    def restore(self, key: str, value: Any) -> None:
        if key == TYPES:
            self._type_offsets = {str(t): [float(v[0]), float(v[1])] for t, v in value.items()}
        elif key == GLOBAL:
            self._global = _Cell.restore(value)
        else:
            self._cells[int(key)] = _Cell.restore(value)
