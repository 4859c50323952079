"""Contact details that look real: names, emails derived from them, phones on real area codes.

Every phone this module calls good passes `phonenumbers.is_valid_number`; every
email it calls good is syntactically valid (a *soft* typo such as ``gmial.com``
is still syntactically valid: a parser cannot tell, and neither should the
expected outcome). Bad contacts are the ones no parser should accept: an email
with no ``@`` or a space, a phone short of digits.
"""

from __future__ import annotations

import random
import re
from functools import cache

import msgspec
import phonenumbers

from streams.traffic.sampling import Weighted, below, between, pick

# (display, ascii) pairs: the ascii form feeds email local parts.
FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("James", "james"), ("Mary", "mary"), ("Michael", "michael"), ("Patricia", "patricia"),
    ("Robert", "robert"), ("Jennifer", "jennifer"), ("John", "john"), ("Linda", "linda"),
    ("David", "david"), ("Elizabeth", "elizabeth"), ("William", "william"),
    ("Barbara", "barbara"), ("Richard", "richard"), ("Susan", "susan"), ("Joseph", "joseph"),
    ("Jessica", "jessica"), ("Thomas", "thomas"), ("Sarah", "sarah"),
    ("Christopher", "christopher"), ("Karen", "karen"), ("Daniel", "daniel"),
    ("Emily", "emily"), ("Matthew", "matthew"), ("Ashley", "ashley"), ("Anthony", "anthony"),
    ("Michelle", "michelle"), ("Mark", "mark"), ("Amanda", "amanda"), ("Kevin", "kevin"),
    ("Olivia", "olivia"), ("Brian", "brian"), ("Emma", "emma"), ("Jacob", "jacob"),
    ("Sophia", "sophia"), ("Ethan", "ethan"), ("Ava", "ava"), ("Noah", "noah"),
    ("Mia", "mia"), ("Liam", "liam"), ("Harper", "harper"), ("Jamal", "jamal"),
    ("Aaliyah", "aaliyah"), ("DeShawn", "deshawn"), ("Imani", "imani"), ("Priya", "priya"),
    ("Arjun", "arjun"), ("Wei", "wei"), ("Mei", "mei"), ("Hiroshi", "hiroshi"),
    ("Yuki", "yuki"), ("Min-jun", "minjun"), ("Ji-woo", "jiwoo"), ("Carlos", "carlos"),
    ("María", "maria"), ("José", "jose"), ("Sofía", "sofia"), ("Zoë", "zoe"),
    ("Chloé", "chloe"), ("Renée", "renee"), ("François", "francois"), ("Björn", "bjorn"),
    ("Søren", "soren"), ("Łukasz", "lukasz"), ("Siobhán", "siobhan"), ("Anh", "anh"),
    ("Thảo", "thao"), ("Fatima", "fatima"), ("Omar", "omar"), ("Ngozi", "ngozi"),
)  # fmt: skip

LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Smith", "smith"), ("Johnson", "johnson"), ("Williams", "williams"), ("Brown", "brown"),
    ("Jones", "jones"), ("Miller", "miller"), ("Davis", "davis"), ("Wilson", "wilson"),
    ("Anderson", "anderson"), ("Taylor", "taylor"), ("Thomas", "thomas"), ("Moore", "moore"),
    ("Jackson", "jackson"), ("Martin", "martin"), ("Lee", "lee"), ("Thompson", "thompson"),
    ("White", "white"), ("Harris", "harris"), ("Clark", "clark"), ("Lewis", "lewis"),
    ("Robinson", "robinson"), ("Walker", "walker"), ("Young", "young"), ("Allen", "allen"),
    ("King", "king"), ("Wright", "wright"), ("Scott", "scott"), ("Hill", "hill"),
    ("Green", "green"), ("Adams", "adams"), ("Baker", "baker"), ("Nelson", "nelson"),
    ("Carter", "carter"), ("Mitchell", "mitchell"), ("Campbell", "campbell"),
    ("O'Brien", "obrien"), ("McCarthy", "mccarthy"), ("Patel", "patel"), ("Shah", "shah"),
    ("Kim", "kim"), ("Park", "park"), ("Chen", "chen"), ("Wang", "wang"), ("Tanaka", "tanaka"),
    ("Nguyen", "nguyen"), ("Nguyễn", "nguyen"), ("Trần", "tran"), ("李", "li"),
    ("王", "wang"), ("张", "zhang"), ("García", "garcia"), ("Rodríguez", "rodriguez"),
    ("Martínez", "martinez"), ("Hernández", "hernandez"), ("López", "lopez"),
    ("González", "gonzalez"), ("Pérez", "perez"), ("Müller", "muller"),
    ("Schröder", "schroder"), ("Kowalski", "kowalski"), ("Nowak", "nowak"),
    ("Okafor", "okafor"), ("Haddad", "haddad"), ("Cohen", "cohen"), ("Rossi", "rossi"),
    ("Dubois", "dubois"), ("Van der Berg", "vanderberg"), ("St. Clair", "stclair"),
)  # fmt: skip

# Weighted like a US consumer list; a few work domains.
_EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.45), ("yahoo.com", 0.13), ("outlook.com", 0.07), ("hotmail.com", 0.06),
    ("icloud.com", 0.09), ("aol.com", 0.03), ("comcast.net", 0.03), ("att.net", 0.02),
    ("me.com", 0.02), ("proton.me", 0.02), ("kw.com", 0.02), ("compass.com", 0.01),
    ("ibm.com", 0.01), ("deloitte.com", 0.01), ("utexas.edu", 0.01), ("mayo.edu", 0.01),
)  # fmt: skip
_pick_domain = Weighted(_EMAIL_DOMAINS)

# Syntactically valid misspellings: they pass any parser, the mail just never arrives.
SOFT_DOMAIN_TYPOS: dict[str, str] = {
    "gmail.com": "gmial.com", "yahoo.com": "yaho.com", "hotmail.com": "hotmial.com",
    "outlook.com": "outlok.com", "icloud.com": "icloud.co", "aol.com": "aol.con",
}  # fmt: skip


class Person(msgspec.Struct, frozen=True, kw_only=True):
    first_name: str
    last_name: str
    email: str  # as the person typed it (mixed case sometimes)
    phone_e164: str  # +1NXXNXXXXXX, always a valid number
    email_reachable: bool  # False for a soft typo: valid syntax, wrong domain


def _email(rng: random.Random, first: str, last: str, birth_year: int) -> str:
    domain = _pick_domain(rng)
    pattern = rng.random()
    if pattern < 0.30:
        local = f"{first}.{last}"
    elif pattern < 0.45:
        local = f"{first}{last}"
    elif pattern < 0.60:
        local = f"{first[0]}{last}"
    elif pattern < 0.70:
        local = f"{first}_{last}"
    elif pattern < 0.85:
        local = f"{first}{last[0]}{birth_year % 100:02d}"
    else:
        local = f"{first}{between(rng, 1, 999)}"
    if domain == "gmail.com" and rng.random() < 0.02:
        local += "+homes"  # plus addressing: valid, and real people use it
    return f"{local}@{domain}"


_US_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("US")
# phonenumbers' own US patterns, matched directly: `is_valid_number` costs ~45 µs a call.
_US_NATIONAL_NUMBER = re.compile(
    f"(?:{_US_METADATA.fixed_line.national_number_pattern})"
    f"|(?:{_US_METADATA.mobile.national_number_pattern})"
)


@cache
def _us_area_codes(area_codes: tuple[str, ...]) -> tuple[str, ...]:
    # ZIP data lists some Canadian and Caribbean NANP codes; a US lead gets a US number.
    return tuple(
        a
        for a in area_codes
        if any(_US_NATIONAL_NUMBER.fullmatch(f"{a}{e}4567") for e in range(200, 1000))
    )


def draw_phone(rng: random.Random, area_codes: tuple[str, ...]) -> str:
    """A valid E.164 US number on one of the given area codes."""
    usable = _us_area_codes(area_codes) or ("512",)
    while True:
        area = pick(rng, usable)
        exchange = between(rng, 200, 999)
        if exchange == 555 or exchange % 100 == 11:  # 555 is fictional, N11 are services
            continue
        national = f"{area}{exchange}{below(rng, 10_000):04d}"
        if _US_NATIONAL_NUMBER.fullmatch(national):
            return f"+1{national}"


def format_phone(rng: random.Random, e164: str) -> str:
    """The way people type a US number into a form."""
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    style = rng.random()
    if style < 0.30:
        return f"({area}) {exchange}-{line}"
    if style < 0.55:
        return f"{area}-{exchange}-{line}"
    if style < 0.75:
        return e164
    if style < 0.85:
        return f"{area}.{exchange}.{line}"
    if style < 0.93:
        return f"{area}{exchange}{line}"
    if style < 0.97:
        return f"+1 {area} {exchange} {line}"
    return f"1-{area}-{exchange}-{line}"


def draw_person(rng: random.Random, area_codes: tuple[str, ...]) -> Person:
    first, first_ascii = pick(rng, FIRST_NAMES)
    last, last_ascii = pick(rng, LAST_NAMES)
    email = _email(rng, first_ascii, last_ascii, between(rng, 1945, 2004))
    reachable = True
    if rng.random() < 0.03:
        domain = email.rsplit("@", 1)[1]
        if domain in SOFT_DOMAIN_TYPOS:
            email = email.replace(domain, SOFT_DOMAIN_TYPOS[domain])
            reachable = False
    if rng.random() < 0.08:  # people capitalise their own names in emails
        local, domain = email.split("@")
        email = f"{local.capitalize()}@{domain.capitalize()}"
    return Person(
        first_name=first,
        last_name=last,
        email=email,
        phone_e164=draw_phone(rng, area_codes),
        email_reachable=reachable,
    )


def break_email(rng: random.Random, email: str) -> str:
    """An email no parser should accept."""
    local, domain = email.split("@", 1)
    style = rng.randrange(4)
    if style == 0:
        return f"{local}{domain}"  # the @ never typed
    if style == 1:
        return f"{local}@@{domain}"
    if style == 2:
        return f"{local} @{domain}"
    return f"{local}@{domain.replace('.', ',', 1)}"


def break_phone(rng: random.Random, e164: str) -> str:
    """A US phone short of digits, in a form people type, that phonenumbers rejects."""
    digits = e164[2:]
    for length in (pick(rng, (6, 7, 8, 9)), 8, 9, 6):
        # A few 7-digit cuts are valid in phonenumbers' US metadata (+1 310-xxxx).
        if not _is_valid_anywhere(digits[:length]):
            break
    cut = digits[:length]
    return cut if rng.random() < 0.5 else f"({cut[:3]}) {cut[3:6]}-{cut[6:]}".rstrip("-")


def _is_valid_anywhere(text: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, "US"))
    except phonenumbers.NumberParseException:
        return False
