"""The fraud and validity screen: rules, velocity and timing state, and a River anomaly model.

Contract:

* `FraudScreen.screen_one(lead, h3_r7, now_ms)` returns a `FraudVerdict`: a
  ``score`` in [0, 1], the ``reasons`` (codes, in `RULE_WEIGHTS` order, then
  ``anomaly``) and ``quarantined`` (``score >= threshold``). It scores first, then
  updates its state with the lead (River's order): a lead never counts against
  itself, and a verdict depends only on the leads before it.
* The score is a noisy-OR: ``1 - prod(1 - w)`` over the fired rules' weights and
  ``anomaly_weight * calibrated anomaly``. One strong rule quarantines on its own;
  weak signals (a typo domain, the anomaly model) only together with another.
* State is explicit and bounded: per-key recent events, at most ``max_entries``
  a key, in two generations that rotate by processing time (``now_ms``) or when a
  generation holds ``max_keys``; whether an event is inside a window is judged by
  event time. The screen is picklable (the agent checkpoints it) and seeded.
* Velocity counts *areas*, not events: the same contact (or IP) about the same
  area again is a re-send, which dedupe links, not fraud. Two events are in the
  same area when their H3 res-4 parents (~22 km edge) are equal or neighbours, so
  a buyer browsing one metro stays one area; one contact in two metros within a
  quarter of an hour is a lead farm reusing an identity.
* Bot timing: two or more identities (email/phone) from one IP within a second.
  A double-click re-post is one identity, so it is not a bot.
* The first event of a burst looks like any lead when it arrives. When a velocity
  or timing rule fires on a burst of at least ``pull_from`` areas (identities, for
  bot timing), ``implicated`` names the earlier leads of the same burst (by
  ``lead_id``, each at most once a key) that were not quarantined: the agent
  can pull them before they are sold (`streams.fraud.pullback`). Acting on it twice is
  harmless. Such verdicts also wait in `take_implicating()` (the last
  ``PENDING_VERDICTS``), so a caller that only sees the scored lead can still act.
* Shared state (several workers): after `share()`, every screened lead's entry and verdict
  waits in `take_sightings()` as a `FraudSighting` for the other workers, and
  `observe(sighting, now_ms)` remembers another screen's lead as if this one had screened
  it (an entry already held for that lead is not added twice, so a replay changes
  nothing) and flags the leads its verdict implicated. It returns that verdict when it
  implicated earlier leads: the caller pulls back those it sent itself.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import NamedTuple

import h3.api.basic_int as h3
import msgspec

from schemas.fraud import FraudSighting
from schemas.lead import Lead
from streams.checkpoint import Pickled
from streams.fraud import rules as fraud_rules
from streams.fraud.anomaly import AnomalyScorer, fraud_features
from streams.fraud.placeholders import placeholder_email, placeholder_name
from streams.fraud.rules import (
    canonical_email,
    email_reason,
    is_gibberish_name,
    phone_reason,
    phone_region_mismatch,
)

#: Weight of each rule in the noisy-OR. At the default threshold (0.5) a rule of
#: 0.5 or more quarantines a lead on its own.
RULE_WEIGHTS: dict[str, float] = {
    "disposable_email": 0.9,
    "invalid_phone": 0.8,
    "unassignable_phone": 0.85,
    "velocity_email": 0.85,
    "velocity_phone": 0.85,
    "velocity_ip": 0.7,
    "bot_timing": 0.9,
    "phone_region_mismatch": 0.6,
    "gibberish_name": 0.8,
    "placeholder_name": 0.85,  # "Test", "Mickey Mouse", "A B": `streams.fraud.placeholders`
    "placeholder_email": 0.85,  # "test@", "noemail@", a domain reserved for examples
    "email_domain_typo": 0.15,  # a real person's slip: worth telling a buyer, not a fake
}
ANOMALY_WEIGHT = 0.35  # at most; below the threshold, so never a quarantine on its own
ANOMALY_REASON_AT = 0.5  # calibrated anomaly from which "anomaly" is listed as a reason
REASON_CODES: tuple[str, ...] = (*RULE_WEIGHTS, "anomaly")
#: Rules that judge a burst of leads rather than one: the ones that implicate earlier leads.
BURST_REASONS = frozenset({"velocity_email", "velocity_phone", "velocity_ip", "bot_timing"})
PENDING_VERDICTS = 1024  # implicating verdicts kept for `take_implicating` (bounded if untaken)

_AREA_RES = 4
# (event ms, h3 res-7 cell or 0, identity crc32, lead_id, quarantined or implicated)
Entry = tuple[int, int, int, str, bool]
_NO_ENTRIES: list[Entry] = []
_WINDOWS = ("_by_email", "_by_phone", "_by_ip")
_GENERATIONS = msgspec.msgpack.Decoder(tuple[dict[str, list[Entry]], dict[str, list[Entry]]])
_SLICE = msgspec.msgpack.Decoder(dict[str, list[Entry]])
# Keys a step of `FraudScreen.dump_steps` encodes: ~4 ms on a quiet core.
DUMP_KEYS_A_STEP = 10_000


class FraudVerdict(NamedTuple):
    score: float  # in [0, 1]
    reasons: tuple[str, ...]
    quarantined: bool
    implicated: tuple[str, ...] = ()  # earlier leads of the same burst: quarantine them too


CLEAN = FraudVerdict(0.0, (), False)


@dataclass(frozen=True, slots=True)
class VelocityLimits:
    """How many distinct areas (or identities) within how long make a rule fire."""

    contact_window_ms: int = 15 * 60_000
    contact_areas: int = 2  # email, phone: two metros in a quarter of an hour
    ip_window_ms: int = 10 * 60_000
    ip_areas: int = 2  # an IP: two metros in ten minutes
    bot_window_ms: int = 1_000
    bot_identities: int = 2  # a second identity from one IP within a second
    max_keys: int = 100_000  # per generation and key kind (~40 MB each at most)
    max_entries: int = 8  # per key
    # Earlier leads are pulled back from a burst of three: a pair may be two people (one
    # name and mailbox in two cities, a couple posting from one IP) and its second lead
    # is quarantined anyway; a third makes it a pattern, and every burst drawn is 3+.
    pull_from: int = 3


class RecentEvents:
    """Recent entries per key, in two generations rotated by processing time or size."""

    def __init__(self, span_ms: int, max_keys: int, max_entries: int) -> None:
        self.span_ms = span_ms
        self.max_keys = max_keys
        self.max_entries = max_entries
        self._current: dict[str, list[Entry]] = {}
        self._previous: dict[str, list[Entry]] = {}
        self._rotated_ms = -(2**62)  # the first event starts a generation

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def within(self, key: str, t_ms: int, window_ms: int) -> list[Entry]:
        """The key's entries within `window_ms` of `t_ms` (event time, either side)."""
        entries = self._current.get(key) or self._previous.get(key)
        if not entries:
            return _NO_ENTRIES
        return [e for e in entries if -window_ms <= e[0] - t_ms <= window_ms]

    def add(self, key: str, entry: Entry, now_ms: int) -> None:
        if now_ms - self._rotated_ms >= self.span_ms or len(self._current) >= self.max_keys:
            self._previous, self._current = self._current, {}
            self._rotated_ms = now_ms
        entries = self._current.get(key)
        if entries is None:
            entries = self._current[key] = list(self._previous.pop(key, ()))
        entries.append(entry)
        if len(entries) > self.max_entries:
            del entries[0]

    def holds(self, key: str, lead_id: str) -> bool:
        entries = self._current.get(key) or self._previous.get(key)
        return entries is not None and any(e[3] == lead_id for e in entries)

    def flag(self, key: str, lead_ids: set[str] | tuple[str, ...]) -> None:
        """Mark the key's entries for these leads as dealt with (quarantined or implicated)."""
        for generation in (self._current, self._previous):
            entries = generation.get(key)
            if entries:
                generation[key] = [(*e[:4], True) if e[3] in lead_ids else e for e in entries]

    def __getstate__(self) -> dict[str, object]:
        # The windows are most of a screen's checkpoint (~280,000 small objects after a
        # busy minute), and the worker takes it on its event loop: msgpack writes them in
        # ~10 ms, pickle took ~100 (BENCHMARKS.md, 2026-12-07 14:50).
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_current", "_previous", "_sliced")}
        sliced = self.__dict__.get("_sliced")
        if sliced is not None:  # a stand-in from `packed_in_steps`
            state["generation_slices"] = sliced
        else:
            state["generations"] = msgspec.msgpack.encode((self._current, self._previous))
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        packed = state.pop("generations", None)
        sliced = state.pop("generation_slices", None)
        self.__dict__.update(state)
        if isinstance(packed, bytes):  # checkpoints before 2026-12-07 pickled the dicts
            self._current, self._previous = _GENERATIONS.decode(packed)
        elif isinstance(sliced, tuple):
            self._current, self._previous = (
                {key: entries for part in parts for key, entries in _SLICE.decode(part).items()}
                for parts in sliced)

    def packed_in_steps(self, keys_a_step: int) -> Generator[None, None, RecentEvents]:
        """A stand-in that pickles as these windows did when this started, encoded a slice
        of `keys_a_step` keys at a time (the caller may run other work at each `yield`).

        The keys and their lists are taken at the start (two lists a generation, not a
        tuple a key: 100,000 new objects would start a collection); an entry added to a
        key's list later may be in the checkpoint or not, either is a state it was in."""
        generations = [(list(g), list(g.values())) for g in (self._current, self._previous)]
        sliced: tuple[list[bytes], list[bytes]] = ([], [])
        for (keys, lists), parts in zip(generations, sliced, strict=True):
            for start in range(0, len(keys), keys_a_step):
                yield
                end = start + keys_a_step
                parts.append(msgspec.msgpack.encode(dict(zip(keys[start:end], lists[start:end],
                                                             strict=True))))
        stand_in = object.__new__(RecentEvents)
        stand_in.__dict__.update(self.__dict__)
        stand_in._sliced = sliced  # type: ignore[attr-defined]
        return stand_in


@lru_cache(maxsize=1 << 16)
def _area(r7: int) -> int:
    # Entries keep their res-7 cell and are judged again with every lead of the key: the
    # parent lookup is cached (leads cluster in metros, so the same cells come back).
    return h3.cell_to_parent(r7, _AREA_RES) if r7 else 0


def _same_area(a: int, b: int) -> bool:
    return a == b or (a != 0 and b != 0 and h3.are_neighbor_cells(a, b))


def distinct_areas(cells: list[int]) -> int:
    """How many separate areas res-7 cells fall in (0, unlocated, is an area of its own).

    Greedy, in the order given: a cell whose area is the same as, or next to, one already
    counted is not a new one.
    """
    seen: list[int] = []
    for cell in cells:
        area = _area(cell)
        if area in seen:  # the common case (a re-send, a household): no neighbour checks
            continue
        if not any(_same_area(area, other) for other in seen):
            seen.append(area)
    return len(seen)


def _areas(cell: int, seen: list[Entry]) -> int:
    return distinct_areas([cell, *(e[1] for e in seen)])


def noisy_or(weights: list[float]) -> float:
    """1 - prod(1 - w): independent pieces of evidence.

    >>> round(noisy_or([0.5, 0.5]), 2)
    0.75
    """
    keep = 1.0
    for w in weights:
        keep *= 1.0 - w
    return 1.0 - keep


class FraudScreen(Pickled):
    """Scores leads for fraud one at a time; holds the velocity state and the anomaly model."""

    def __init__(
        self,
        threshold: float = 0.5,
        seed: int = 42,
        *,
        limits: VelocityLimits | None = None,
        weights: Mapping[str, float] | None = None,
        anomaly_weight: float = ANOMALY_WEIGHT,
        anomaly: AnomalyScorer | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be within (0, 1]")
        unknown = set(weights or ()) - set(RULE_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown fraud rules {sorted(unknown)}: have {list(RULE_WEIGHTS)}")
        self.threshold = threshold
        self.seed = seed
        self.limits = limits or VelocityLimits()
        self.weights = {**RULE_WEIGHTS, **(weights or {})}
        self.anomaly_weight = anomaly_weight
        self.anomaly = anomaly if anomaly is not None else AnomalyScorer(seed=seed)
        lim = self.limits
        # A generation outlives a window twice over: late (polled) leads still find their peers.
        self._by_email = RecentEvents(2 * lim.contact_window_ms, lim.max_keys, lim.max_entries)
        self._by_phone = RecentEvents(2 * lim.contact_window_ms, lim.max_keys, lim.max_entries)
        self._by_ip = RecentEvents(2 * lim.ip_window_ms, lim.max_keys, lim.max_entries)
        self.n_screened = 0
        self.n_quarantined = 0
        self._implicating: deque[FraudVerdict] = deque(maxlen=PENDING_VERDICTS)
        self._sightings: list[FraudSighting] | None = None  # None: not shared (in process)
        fraud_rules.warm()  # the area-code table, now rather than on the first lead

    def screen_one(self, lead: Lead, h3_r7: int, now_ms: int) -> FraudVerdict:
        """Score one lead against the leads before it, then remember it."""
        lim = self.limits
        t_ms = int(lead.event_time.timestamp() * 1000)
        email, phone, ip = lead.email, lead.phone, lead.ip
        fired: list[str] = []

        reason = email_reason(email)
        if reason is not None:
            fired.append(reason)
        reason = phone_reason(phone)
        if reason is not None:
            fired.append(reason)
        if phone_region_mismatch(phone, lead.state, lead.lat, lead.lon):
            fired.append("phone_region_mismatch")
        if is_gibberish_name(lead.first_name, lead.last_name):
            fired.append("gibberish_name")
        if placeholder_name(lead.first_name, lead.last_name):
            fired.append("placeholder_name")
        if placeholder_email(email):
            fired.append("placeholder_email")

        # Velocity: one identity, phone or IP in several areas within the window. An email's
        # identity is the mailbox with the same first name and phone (or none): a couple
        # sharing an inbox are two people with two phones, a farmed identity is one.
        email_key = None
        if email:
            email_key = f"{canonical_email(email)}|{lead.first_name.casefold()}|{phone or ''}"
        email_seen = phone_seen = ip_seen = _NO_ENTRIES
        implicated: dict[str, set[str]] = {}  # key kind → earlier leads of a burst
        if email_key is not None:
            email_seen = self._by_email.within(email_key, t_ms, lim.contact_window_ms)
            areas = _areas(h3_r7, email_seen) if email_seen else 0
            if areas >= lim.contact_areas:
                fired.append("velocity_email")
                if areas >= lim.pull_from:
                    implicated["email"] = {e[3] for e in email_seen if not e[4]}
        if phone:
            phone_seen = self._by_phone.within(phone, t_ms, lim.contact_window_ms)
            areas = _areas(h3_r7, phone_seen) if phone_seen else 0
            if areas >= lim.contact_areas:
                fired.append("velocity_phone")
                if areas >= lim.pull_from:
                    implicated["phone"] = {e[3] for e in phone_seen if not e[4]}
        identity = zlib.crc32((email_key or phone or lead.lead_id).encode())
        if ip:
            ip_seen = self._by_ip.within(ip, t_ms, lim.ip_window_ms)
            if ip_seen:
                areas = _areas(h3_r7, ip_seen) if len(ip_seen) + 1 >= lim.ip_areas else 0
                if areas >= lim.ip_areas:
                    fired.append("velocity_ip")
                    if areas >= lim.pull_from:
                        implicated["ip"] = {e[3] for e in ip_seen if not e[4]}
                bot = lim.bot_window_ms
                timed = [e for e in ip_seen if -bot <= e[0] - t_ms <= bot and e[2] != identity]
                identities = len({e[2] for e in timed}) + 1
                if identities >= lim.bot_identities:
                    fired.append("bot_timing")
                    if identities >= lim.pull_from:
                        implicated.setdefault("ip", set()).update(
                            e[3] for e in timed if not e[4]
                        )

        lag_s = lead.received_time.timestamp() - t_ms / 1000
        x = fraud_features(lead, len(email_seen), len(phone_seen), len(ip_seen), lag_s)
        anomaly = self.anomaly.score_one(x)

        self.n_screened += 1
        if not fired:
            self.anomaly.learn_one(x)  # the anomaly model learns what the rules passed
            if anomaly == 0.0:
                self._remember(
                    lead, email_key, (t_ms, h3_r7, identity, lead.lead_id, False), now_ms, CLEAN
                )
                return CLEAN

        weights = [self.weights[code] for code in fired]
        if anomaly > 0.0:
            weights.append(self.anomaly_weight * anomaly)
        score = noisy_or(weights)
        quarantined = score >= self.threshold
        self.n_quarantined += quarantined
        if len(fired) > 1:
            fired.sort(key=_REASON_ORDER.__getitem__)
        if anomaly >= ANOMALY_REASON_AT:
            fired.append("anomaly")
        pulled: set[str] = set()
        if quarantined:
            for kind, lead_ids in implicated.items():
                if kind == "email" and email_key is not None:
                    self._by_email.flag(email_key, lead_ids)
                elif kind == "phone" and phone:
                    self._by_phone.flag(phone, lead_ids)
                elif kind == "ip" and ip:
                    self._by_ip.flag(ip, lead_ids)
                pulled |= lead_ids
        verdict = FraudVerdict(score, tuple(fired), quarantined, tuple(sorted(pulled)))
        self._remember(
            lead, email_key, (t_ms, h3_r7, identity, lead.lead_id, quarantined), now_ms, verdict
        )
        if pulled:
            self._implicating.append(verdict)
        return verdict

    def share(self) -> None:
        """From now on, keep what each screened lead leaves for `take_sightings`."""
        if self._sightings is None:
            self._sightings = []

    def take_sightings(self) -> list[FraudSighting]:
        """What this screen saw since the last call, for the other workers' screens."""
        sightings = self._sightings
        if not sightings:
            return []
        self._sightings = []
        return sightings

    def observe(self, sighting: FraudSighting, now_ms: int) -> FraudVerdict | None:
        """Remember a lead another worker screened; its verdict if it implicated leads."""
        s = sighting
        entry = (s.event_ms, s.h3_r7, s.identity, s.lead_id, s.quarantined)
        for store, key in ((self._by_email, s.email_key), (self._by_phone, s.phone),
                           (self._by_ip, s.ip)):
            if key:
                if not store.holds(key, s.lead_id):
                    store.add(key, entry, now_ms)
                if s.implicated:
                    store.flag(key, s.implicated)
        if not s.implicated:
            return None
        return FraudVerdict(s.score, s.reasons, True, s.implicated)

    def take_implicating(self) -> list[FraudVerdict]:
        """The verdicts that implicated earlier leads since the last call (oldest first)."""
        if not self._implicating:
            return []
        verdicts = list(self._implicating)
        self._implicating.clear()
        return verdicts

    def _remember(self, lead: Lead, email_key: str | None, entry: Entry, now_ms: int,
                  verdict: FraudVerdict) -> None:
        if email_key is not None:
            self._by_email.add(email_key, entry, now_ms)
        if lead.phone:
            self._by_phone.add(lead.phone, entry, now_ms)
        if lead.ip:
            self._by_ip.add(lead.ip, entry, now_ms)
        if self._sightings is not None:  # the entry's fields, in order, then the verdict's
            self._sightings.append(FraudSighting(
                email_key, lead.phone, lead.ip, *entry, verdict.score, verdict.reasons,
                verdict.implicated))

    def state_size(self) -> dict[str, int]:
        """Keys held per kind (each at most 2 * max_keys)."""
        return {"email": len(self._by_email), "phone": len(self._by_phone), "ip": len(self._by_ip)}

    def dump_steps(self, keys_a_step: int = DUMP_KEYS_A_STEP) -> Generator[None, None, bytes]:
        """`dumps()` in steps: the checkpoint of 100,000 keys is ~50 ms of encoding on a
        quiet core, and the worker takes it on its event loop, where 100-210 ms in one
        step (a busy machine) held every lead in flight (BENCHMARKS.md, 2026-12-07 22:40).
        Drive it with `next()`, doing other work at each step, until StopIteration
        carries the bytes (`agents.worker.in_steps`)."""
        stand_in = object.__new__(FraudScreen)
        stand_in.__dict__.update(self.__dict__)
        for name in _WINDOWS:
            setattr(stand_in, name,
                    (yield from getattr(self, name).packed_in_steps(keys_a_step)))
        return stand_in.dumps()

    def __setstate__(self, state: dict[str, object]) -> None:
        # Checkpoints from before `take_implicating` have no queue: start an empty one; and
        # their limits lack the fields added since (a slotted dataclass leaves them unset).
        state.setdefault("_implicating", deque(maxlen=PENDING_VERDICTS))
        state.setdefault("_sightings", None)
        limits = state.get("limits")
        if isinstance(limits, VelocityLimits):
            given = {f.name: getattr(limits, f.name) for f in fields(limits)
                     if hasattr(limits, f.name)}
            state["limits"] = VelocityLimits(**given)
        self.__dict__.update(state)


_REASON_ORDER = {code: i for i, code in enumerate(REASON_CODES)}
