"""Stateless fraud and validity rules over one lead's own fields.

Contract: each rule is a pure function of lead fields returning a reason code
(or None / False); none raises on odd input. Phones are the parser's E.164
(already `phonenumbers`-valid), so the phone rules look for numbers that are
*valid yet no person's*: NANP fictional and service numbers, toll-free and
premium lines. The area-code table (area code → states and ZIP points, from
the bundled `zipcodes` data) is built once, lazily (~1.2 s; `warm()` at worker
start). Stateful rules (velocity, timing) live in `streams.fraud.screen`.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import zipcodes

from streams.fraud.disposable_domains import email_domain_kind

# --- email --------------------------------------------------------------------------------

_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def canonical_email(email: str) -> str:
    """The mailbox an address reaches: plus tags dropped, Gmail's dots ignored.

    >>> canonical_email("john.smith+homes@gmail.com")
    'johnsmith@gmail.com'
    """
    local, _, domain = email.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


_domain_kind = lru_cache(maxsize=1 << 14)(email_domain_kind)  # domains repeat: gmail.com …


def email_reason(email: str | None) -> str | None:
    """``disposable_email``, ``email_domain_typo`` or None for a normalised address."""
    if not email:
        return None
    kind = _domain_kind(email.rpartition("@")[2])
    if kind == "disposable":
        return "disposable_email"
    if kind == "typo":
        return "email_domain_typo"
    return None


# --- phone --------------------------------------------------------------------------------

_E164 = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)
# Non-geographic NANP area codes: toll-free, premium, personal communications, government.
_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})
_NON_PERSONAL_AREAS = _TOLL_FREE | {
    "900", "500", "521", "522", "523", "524", "525", "526", "527", "528", "529", "532", "533",
    "535", "538", "542", "543", "544", "545", "546", "547", "549", "550", "552", "553", "554",
    "556", "558", "566", "569", "577", "578", "588", "589", "600", "622", "700", "710",
}  # fmt: skip


def phone_reason(phone: str | None) -> str | None:
    """``invalid_phone``, ``unassignable_phone`` or None for an E.164 number.

    Unassignable: the 555 exchange (555-01xx is reserved for fiction; the rest of 555 is
    directory and information services), N11 exchanges (service codes: 411, 911, ...),
    and non-geographic area codes (toll-free, 900, 5XX personal numbers): none is a
    person's own line. Foreign numbers pass: buyers live abroad.

    >>> phone_reason("+15125550134"), phone_reason("+18005551234"), phone_reason("+15124561234")
    ('unassignable_phone', 'unassignable_phone', None)
    """
    if not phone:
        return None
    if len(phone) != 12 or not phone.startswith("+1") or not phone[2:].isdigit():
        return "invalid_phone" if _E164.fullmatch(phone) is None else None  # foreign
    exchange = phone[5:8]
    if exchange == "555" or exchange[1:] == "11" or phone[2:5] in _NON_PERSONAL_AREAS:
        return "unassignable_phone"
    return None


# --- phone region vs property location ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaCode:
    states: frozenset[str]
    points: tuple[tuple[float, float], ...]  # ZIP centroids on a 0.25° grid, deduplicated


_area_codes: dict[str, AreaCode] = {}
_EARTH_KM = 6371.0
FAR_KM = 800.0  # farther than a commute or a neighbouring metro from every ZIP of the code


def warm() -> None:
    """Build the area-code table now (idempotent)."""
    if _area_codes:
        return
    states: dict[str, set[str]] = defaultdict(set)
    points: dict[str, set[tuple[float, float]]] = defaultdict(set)
    for prefix in range(100):  # a prefix at a time: see `streams.parse.geocode._zip_entries`
        for row in zipcodes.similar_to(f"{prefix:02d}"):
            try:
                lat, lon = float(row["lat"]), float(row["long"])
            except (TypeError, ValueError):
                continue
            for code in row["area_codes"] or ():
                states[code].add(row["state"])
                if lat or lon:
                    points[code].add((round(lat * 4) / 4, round(lon * 4) / 4))
    table = {
        code: AreaCode(frozenset(codes), tuple(sorted(points.get(code, ()))))
        for code, codes in states.items()
    }
    _area_codes.update(table)  # last: a half-built table must not look built


def area_code(code: str) -> AreaCode | None:
    if not _area_codes:
        warm()
    return _area_codes.get(code)


def known_area_codes() -> tuple[str, ...]:
    """Every area code the ZIP data names, sorted."""
    if not _area_codes:
        warm()
    return tuple(sorted(_area_codes))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def area_code_distance_km(code: str, lat: float, lon: float) -> float | None:
    """Distance from a point to the nearest ZIP served by a US area code; None if unknown."""
    entry = area_code(code)
    if entry is None or not entry.points:
        return None
    return min(distance_km(lat, lon, plat, plon) for plat, plon in entry.points)


def phone_region_mismatch(
    phone: str | None, state: str | None, lat: float | None, lon: float | None
) -> bool:
    """The phone's area code serves only places far (> FAR_KM) from the property.

    Unknown area codes, foreign numbers and unlocated leads never mismatch.
    """
    if not phone or len(phone) != 12 or lat is None or lon is None or phone[1] != "1":
        return False
    if not _area_codes:
        warm()
    entry = _area_codes.get(phone[2:5])
    if entry is None or state in entry.states:
        return False  # the common case: two lookups
    nearest = area_code_distance_km(phone[2:5], lat, lon)
    return nearest is not None and nearest > FAR_KM


# --- gibberish names ----------------------------------------------------------------------

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_AT = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
_HOME_ROW = frozenset(_ROWS[1])
_VOWELS = frozenset("aeiouy")
_LETTERS = re.compile(r"[a-z]+")
_CONSONANT_RUN = re.compile(r"[^aeiouy]{4}")


_ROMAN = re.compile(r"m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})")  # "VIII"


def _step(a: str, b: str) -> int:
    """+1 or -1 when `b` is the key right or left of `a` on the same row, else 0."""
    ka, kb = _KEY_AT.get(a), _KEY_AT.get(b)
    if ka is None or kb is None or ka[0] != kb[0]:
        return 0
    delta = kb[1] - ka[1]
    return delta if delta in (1, -1) else 0


def _row_run(token: str) -> tuple[int, int]:
    """The longest run of keys struck in one direction along a row, and its row."""
    best, best_row, run, direction = 1, -1, 1, 0
    for a, b in pairwise(token):
        step = _step(a, b)
        run = run + 1 if step and step == direction else (2 if step else 1)
        direction = step
        if run > best:
            best, best_row = run, _KEY_AT[b][0]
    return best, best_row


def _repeats_a_unit(token: str) -> bool:
    """ "asdasd", "jkljkl", "jkjkjk": a short unit of neighbouring keys, typed again and again."""
    for size in (2, 3):
        copies = len(token) // size
        unit = token[:size]
        if copies >= (3 if size == 2 else 2) and len(token) % size == 0 and token == unit * copies:
            return all(_step(a, b) for a, b in pairwise(unit))
    return False


def _mashed(token: str) -> bool:
    """A keyboard mash: a run along a row, a repeated unit, a vowel-less or home-row jumble.

    The top row holds five vowels, so real names run along it ("Liberty", "Dougherty",
    "Ewert"): there only a run of five, or a whole token of four ("qwer"), counts.
    """
    n = len(token)
    if n < 4 or _ROMAN.fullmatch(token) is not None:
        return False
    run, row = _row_run(token)
    if run >= 5 or (run == 4 and (row != 0 or n == 4)) or _repeats_a_unit(token):
        return True
    vowels = sum(c in _VOWELS for c in token)
    if vowels == 0:
        return True  # xkcd, sdfkj, hjkgf: Latin-script names carry a vowel or a y
    # ajdkfh, sdfjka; not "Glass" or "Skaggs": a real name breaks its consonants up
    if (
        n >= 5
        and vowels == 1
        and all(c in _HOME_ROW for c in token)
        and _CONSONANT_RUN.search(token) is not None
    ):
        return True
    return any(token[i] == token[i + 1] == token[i + 2] for i in range(n - 2))  # aaaa


@lru_cache(maxsize=1 << 16)
def _part_mashed(part: str) -> bool:
    # Name parts repeat (a few thousand cover most people): cached, the rule costs ~0.2 µs.
    if not part.isascii():
        return False  # accented Latin, CJK, Vietnamese: real names are not typed as mash
    return any(_mashed(token) for token in _LETTERS.findall(part.lower()))


def is_gibberish_name(first: str, last: str) -> bool:
    """Keyboard mashing in a name ("asdf qwer", "Jkjkjk Sdfg"); non-Latin scripts never match.

    >>> is_gibberish_name("asdf", "qwer"), is_gibberish_name("Søren", "Szczepański")
    (True, False)
    """
    return _part_mashed(first) or _part_mashed(last)
