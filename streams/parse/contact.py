"""Contact details: email addresses, phone numbers (E.164) and people's names.

Contract:
- `normalize_email`, `normalize_phone`, `clean_name` and `split_name` accept any decoded
  value and are total: a canonical value or `None`/`""`, never an exception.
- `resolve_contact` decides the contact reason codes and raises only MissingContact,
  BadEmail or BadPhone.
- Hot paths avoid `phonenumbers` (~60 µs a call): NANP numbers (+1: US, PR, CA, …)
  in the usual shapes are checked against phonenumbers' own metadata patterns directly,
  with the same answer (a property test holds the two together). Names are cleaned and
  split once per distinct raw text (LRU, 32k each): people's names repeat.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from streams.errors import BadEmail, BadPhone, MissingContact
from streams.parse.decode import as_text

# --- email --------------------------------------------------------------------------------

# Syntactic only (RFC 5322 dot-atom local part, DNS-like labels, alphabetic TLD); unicode
# letters allowed (RFC 6531). Deliverability is not knowable here. The ASCII pattern is the
# same rule for lower-cased ASCII and about twice as fast as the unicode one.
_EMAIL_ASCII = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
)


def normalize_email(value: object) -> str | None:
    """Trimmed, lower-cased address, or None when it is not syntactically an address.

    >>> normalize_email("  Jane.Doe@Example.COM ")
    'jane.doe@example.com'
    >>> normalize_email("jane@@example.com") is None
    True
    """
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if email.startswith("mailto:"):
        email = email[7:]
    if len(email) > 254:
        return None
    if email.isascii():
        return email if _EMAIL_ASCII.fullmatch(email) is not None else None
    if _EMAIL.fullmatch(email) is None:
        return None
    # `_EMAIL` lets "_" inside domain labels (cheaper than excluding it in the pattern).
    return None if "_" in email.rpartition("@")[2] else email


# --- phone --------------------------------------------------------------------------------


def _valid_pattern(metadata: PhoneMetadata) -> re.Pattern[str]:
    """phonenumbers' validity test for a region's 10-digit national numbers, as one regex.

    Mirrors `_number_type_helper`: the general pattern and any number-type pattern.
    """
    descs = (
        metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
        metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail,
        metadata.fixed_line, metadata.mobile,
    )  # fmt: skip
    types = "|".join(
        desc.national_number_pattern
        for desc in descs
        if desc is not None
        and desc.national_number_pattern
        and (not desc.possible_length or 10 in desc.possible_length)
    )
    general = metadata.general_desc.national_number_pattern
    return re.compile(f"(?=(?:{general})$)(?:{types or '(?!)'})", re.ASCII)


def _nanp_regions() -> tuple[tuple[re.Pattern[str] | None, re.Pattern[str]], ...]:
    regions = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:  # US first, then AG … VI
        metadata = PhoneMetadata.metadata_for_region(code)
        if metadata is not None:
            leading = metadata.leading_digits
            regions.append(
                (re.compile(leading, re.ASCII) if leading else None, _valid_pattern(metadata))
            )
    return tuple(regions)


_NANP_REGIONS = _nanp_regions()


def _nanp_valid(national: str) -> bool:
    """`is_valid_number` for +1 `national` (10 ASCII digits), without building a number.

    Same walk as phonenumbers' `_region_code_for_number_from_list`: the first region whose
    leading digits match decides; regions without leading digits (US, CA) claim a number
    only when it is valid for them.
    """
    for leading, valid in _NANP_REGIONS:
        if leading is None:
            if valid.fullmatch(national) is not None:
                return True
        elif leading.match(national) is not None:
            return valid.fullmatch(national) is not None
    return False


# A NANP number in the usual punctuation: phonenumbers would read it as +1 and these 10
# digits. Other digits (fullwidth, Arabic-Indic) take the slow path, which maps them.
_NANP_SHAPE = re.compile(r"(?:\+?1[ .-]?)?\(?([2-9]\d\d)\)?[ .-]?(\d{3})[ .-]?(\d{4})", re.ASCII)


def normalize_phone(value: object) -> str | None:
    """E.164 for a valid number (default region US), else None.

    >>> normalize_phone("(512) 555-0134")
    '+15125550134'
    """
    if not isinstance(value, str):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        value = str(as_text(value))
    text = value.strip()
    shape = _NANP_SHAPE.fullmatch(text)
    if shape is not None:
        national = "".join(shape.groups())
        return "+1" + national if _nanp_valid(national) else None
    # Other countries, extensions, letters, odd punctuation: the full library.
    return _phone_slow(text) if len(text) <= 64 else None


@lru_cache(maxsize=8192)
def _phone_slow(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _present(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and not isinstance(value, bool)


def resolve_contact(email: object, phone: object) -> tuple[str | None, str | None]:
    """(email, phone) with invalid ones dropped; raise when no valid contact remains.

    No valid contact: BadEmail if an email was given, else BadPhone if a phone was given,
    else MissingContact. Details name the problem, not the value (DLQ logs are not PII stores).
    """
    good_email = normalize_email(email)
    good_phone = normalize_phone(phone)
    if good_email is None and good_phone is None:
        if _present(email):
            also = " (and the phone is not a valid number)" if _present(phone) else ""
            raise BadEmail(f"email is not a syntactically valid address{also}")
        if _present(phone):
            raise BadPhone("phone is not a valid number and no valid email was given")
        raise MissingContact("neither an email nor a phone number was given")
    return good_email, good_phone


# --- names --------------------------------------------------------------------------------

_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})
# fmt: off
_PARTICLES = frozenset({
    "van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "dos", "das", "la", "le",
    "bin", "ibn", "al", "el", "ter", "ten",
})
# fmt: on
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def clean_name(value: object) -> str:
    """Whitespace-collapsed NFC text; title-cased only when all-lower or all-upper.

    >>> clean_name("  JOSÉ   ÑÚÑEZ ")
    'José Ñúñez'
    >>> clean_name("McDonald")
    'McDonald'
    """
    if not isinstance(value, str):
        return ""
    return _clean_name(value) if len(value) <= _CACHED_NAME_CHARS else _clean_text_name(value)


# Names repeat (a few thousand cover most people): cached by the raw text, a hit costs
# ~0.1 µs against ~0.5 µs for cleaning and ~1 µs for splitting. Long junk is not cached.
_CACHED_NAME_CHARS = 100


@lru_cache(maxsize=1 << 15)
def _clean_name(value: str) -> str:
    return _clean_text_name(value)


def _clean_text_name(value: str) -> str:
    text = " ".join(value.split())
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if text.islower() or text.isupper():
        text = text.title()
    return text


def _bare(token: str) -> str:
    return token.rstrip(".").casefold()


def split_name(value: object) -> tuple[str, str]:
    """A full name → (first, last): "Jane van der Berg" → ("Jane", "van der Berg").

    "Doe, Jane" is inverted; honorifics are dropped; suffixes stay with the last name.
    CJK names written with a space are family-name first; unspaced ones ("李小龍") stay whole
    in `first` because where the family name ends is not knowable from the text.
    """
    if not isinstance(value, str):
        return "", ""
    return _split_name_cached(value) if len(value) <= _CACHED_NAME_CHARS else _split_name(value)


@lru_cache(maxsize=1 << 15)
def _split_name_cached(value: str) -> tuple[str, str]:
    return _split_name(value)


def _split_name(value: str) -> tuple[str, str]:
    text = _clean_text_name(value)
    if not text:
        return "", ""
    tokens = text.split(" ")
    if (
        len(tokens) == 2
        and "," not in text
        and "." not in text
        and (text.isascii() or _CJK.search(text) is None)
        and tokens[0].casefold() not in _HONORIFICS
    ):
        return tokens[0], tokens[1]  # "Jane Doe", "José Ñúñez": most names skip the rules
    if text.count(",") == 1:
        before, after = (part.strip() for part in text.split(","))
        if before and after and _bare(after) not in _SUFFIXES:
            return after, before
        text = f"{before} {after}".strip()
    tokens = text.split()
    while len(tokens) > 1 and _bare(tokens[0]) in _HONORIFICS:
        tokens.pop(0)
    if len(tokens) == 1:
        return tokens[0], ""
    if _CJK.search(text) is not None and _LATIN.search(text) is None:
        return " ".join(tokens[1:]), tokens[0]
    start = len(tokens) - 1
    if _bare(tokens[-1]) in _SUFFIXES and len(tokens) > 2:
        start -= 1
    while start > 1 and _bare(tokens[start - 1]) in _PARTICLES:
        start -= 1
    return " ".join(tokens[:start]), " ".join(tokens[start:])
