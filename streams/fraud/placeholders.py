"""Placeholder and test identities: what people type to get past a form, not who they are.

Contract:
- `placeholder_name(first, last)` is True for a name from the catalogue below, matched after
  normalisation (accents and case folded; digits read as letters *and* dropped, so "T3st"
  and "test1" both read "test"; runs of three or more of one letter collapsed, so
  "Teeest" reads "test" while "Nonne" stays a name):
  test and filler words in either part ("Test", "Fake", "N/A", "Lorem Ipsum"), a whole
  name that is a cartoon or stock character ("Mickey Mouse", "Homer Simpson", "Santa
  Claus"), or a name made only of single or repeated letters ("A B", "X", "Zz Zz").
- `placeholder_email(email)` is True for a mailbox from the same catalogue ("test@",
  "noemail@", "asdf@"…) or on a domain reserved for examples (RFC 2606 / 6761:
  ``example.com``, ``*.test``, ``*.invalid``…), where no mail is ever delivered.
- Words that are also real names are left out on purpose: "Foo", "Na", "No", "Bar",
  "Sample" and "Seller" are family names, "Nil", "Nan" and "Kermit" given names,
  "Garfield" both. A character is matched
  only by its whole name ("Mickey Mouse", not "Mickey"). "John/Jane Doe" is left out too:
  people carry it, and the velocity and contact rules see the rest of such a lead.
- Pure and cheap: frozenset lookups on a few normalised strings, cached per raw name part
  and per whole name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Single words that are no one's name: test, filler, refusal, role, the alphabet.
#: (Keyboard mashes, "asdf" and "qwerty" among them, are `rules.is_gibberish_name`'s.)
FILLER_WORDS: frozenset[str] = frozenset({
    "test", "tests", "tester", "testing", "testtest", "testuser", "testlead", "testname",
    "testy", "mctestface", "testface", "fake", "fakename", "fakey", "faker", "dummy",
    "example", "placeholder", "none", "null", "nobody", "noname",
    "nothanks", "nope", "unknown", "anonymous", "anonymus", "anon", "notgiven", "notprovided",
    "noneofyourbusiness", "private", "withheld", "refused", "declined", "idk", "whatever",
    "abc", "abcd", "abcde", "abcdef", "abcxyz",
    "xyz", "lorem", "ipsum", "loremipsum", "blah", "blahblah", "foobar", "spam", "junk",
    "trash", "garbage", "hello", "user", "username", "customer", "name", "firstname",
    "lastname", "fname", "lname", "yourname", "myname", "fullname", "noone",
})  # fmt: skip
#: Whole names of cartoon, fictional and stock characters (first and last run together).
CHARACTERS: frozenset[str] = frozenset({
    "mickeymouse", "minniemouse", "donaldduck", "daisyduck", "daffyduck", "bugsbunny",
    "porkypig", "elmerfudd", "tweetybird", "wileecoyote", "roadrunner", "homersimpson",
    "margesimpson", "bartsimpson", "lisasimpson", "maggiesimpson", "fredflintstone",
    "wilmaflintstone", "barneyrubble", "scoobydoo", "shaggyrogers", "spongebobsquarepants",
    "spongebob", "patrickstar", "squidwardtentacles", "petergriffin", "stewiegriffin",
    "yogibear", "booboobear", "winniethepooh", "winniepooh", "harrypotter", "hermionegranger",
    "darthvader", "lukeskywalker", "hansolo", "princessleia", "santaclaus", "easterbunny",
    "toothfairy", "jamesbond", "sherlockholmes", "brucewayne", "clarkkent", "peterparker",
    "tonystark", "batman", "superman", "spiderman", "ironman", "wonderwoman", "captainamerica",
    "pikachu", "shrek", "kermitthefrog", "kermitfrog", "misspiggy", "garfieldcat",
    "charliebrown", "snoopy", "popeye", "oliveoyl", "supermario", "mariomario", "luigimario",
    "sonichedgehog", "sonicthehedgehog", "rickastley", "johnnytest", "testytester",
})  # fmt: skip
#: Mailbox names that are no one's inbox.
MAILBOXES: frozenset[str] = FILLER_WORDS | frozenset({
    "noemail", "nomail", "noreply", "donotreply", "dontemail", "noone", "no", "nospam",
    "email", "mail", "emailaddress", "myemail", "youremail", "xxx", "asdf", "qwerty",
})  # fmt: skip
#: Domains and suffixes reserved for examples and tests: never a real mailbox.
RESERVED_DOMAINS: frozenset[str] = frozenset({
    "example.com", "example.org", "example.net", "test.com", "fake.com", "email.com.invalid",
})
RESERVED_SUFFIXES: tuple[str, ...] = (".test", ".example", ".invalid", ".localhost")

_LEET = str.maketrans("013457@$", "oieastas")
_SPELLS_LETTER = re.compile(r"[013457@$]")  # what `_LEET` maps
_NOT_LETTERS = re.compile(r"[^a-z]+")
_RUNS = re.compile(r"(.)\1{2,}")
_WORDS = re.compile(r"[\s\-_.,/]+")
_EDGE_DIGITS = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def _fold(text: str) -> str:
    if text.isascii():  # most names and mailboxes: nothing to decompose, case is all
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def readings(text: str) -> frozenset[str]:
    """The ways a typed word reads: digits as letters or dropped, letter runs collapsed.

    >>> sorted(readings("T3st-1")), sorted(readings("Teeest"))
    (['test', 'testi', 'tst'], ['teeest', 'test'])
    """
    folded = _fold(text)
    plain = _NOT_LETTERS.sub("", folded)
    if _SPELLS_LETTER.search(folded) is None:
        # No digit or symbol spells a letter (most text): the leet and inner readings are
        # the plain one (the edges stripped below are never letters).
        out = {plain, _RUNS.sub(_run_letter, plain)}
    else:
        leet = _NOT_LETTERS.sub("", folded.translate(_LEET))
        # "test123", "T3st-1": digits spell letters inside a word, and count at its end.
        inner = _NOT_LETTERS.sub("", _EDGE_DIGITS.sub("", folded).translate(_LEET))
        out = {plain, leet, inner, *(_RUNS.sub(_run_letter, w) for w in (plain, leet, inner))}
    out.discard("")
    return frozenset(out)


def _run_letter(run: re.Match[str]) -> str:
    # A function, not the template r"\1": re parses a template on every call.
    return run.group(1)


_FILLER = FILLER_WORDS
_WHOLE = CHARACTERS


#: "Not applicable" as typed; "Na" alone is a family name, "N/A" is nobody's.
_NOT_APPLICABLE = frozenset({"n/a", "n.a.", "n.a", "n\\a", "n-a", "-", "--", ".", "?"})


@lru_cache(maxsize=1 << 14)
def _part_is_filler(part: str) -> bool:
    if _fold(part).replace(" ", "") in _NOT_APPLICABLE:
        return True
    # Each word of a part ("Test User", "Lorem Ipsum") and the part run together.
    words = [w for w in _WORDS.split(part) if w]
    return any(not readings(word).isdisjoint(_FILLER) for word in [*words, part]) and (
        all(not readings(word).isdisjoint(_FILLER) or len(word) == 1 for word in words)
    )


def _one_letter(part: str) -> bool:
    letters = _NOT_LETTERS.sub("", _fold(part))
    return bool(letters) and len(set(letters)) == 1


@lru_cache(maxsize=1 << 16)
def placeholder_name(first: str, last: str) -> bool:
    """A test, filler or character name, or one made of single/repeated letters only.

    >>> placeholder_name("Mickey", "Mouse"), placeholder_name("T3st", "User")
    (True, True)
    >>> placeholder_name("Mickey", "Rourke"), placeholder_name("Kermit", "Ruffins")
    (False, False)
    """
    # Cached whole: the fraud screen and its anomaly features both ask (~15 µs a miss,
    # mostly the whole-name readings), and names repeat.
    parts = [p for p in (first.strip(), last.strip()) if p]
    if not parts:
        return False
    if any(_part_is_filler(part) for part in parts):
        return True
    if all(_one_letter(part) for part in parts):
        return True  # "A B", "X", "Zz Zz", "Aaa Bbb"
    words = [w for w in _WORDS.split(" ".join(parts)) if w]
    initials_dropped = " ".join(w for w in words if len(_NOT_LETTERS.sub("", _fold(w))) > 1)
    whole = readings(" ".join(parts)) | readings(initials_dropped)  # "Homer J. Simpson"
    return not whole.isdisjoint(_WHOLE)


def placeholder_email(email: str | None) -> bool:
    """A filler mailbox ("test@", "noemail@") or a domain reserved for examples.

    >>> placeholder_email("test123@gmail.com"), placeholder_email("jane@example.com")
    (True, True)
    >>> placeholder_email("jane.tester@gmail.com")
    False
    """
    if not email:
        return False
    local, _, domain = email.rpartition("@")
    if domain in RESERVED_DOMAINS or domain.endswith(RESERVED_SUFFIXES):
        return True
    local = local.split("+", 1)[0]
    return not readings(local).isdisjoint(MAILBOXES)
