"""The placeholder catalogue: test, filler and character identities, read after normalising."""

from __future__ import annotations

import random

import pytest

from streams.fraud.placeholders import placeholder_email, placeholder_name, readings
from streams.traffic.people import draw_person


@pytest.mark.parametrize(("first", "last"), [
    ("Test", ""), ("test", "test"), ("TEST", "Smith"), ("Jane", "Test"), ("T3st", "Us3r"),
    ("Test123", "Lead"), ("Teeeest", "Tester"), ("Fake", "Name"), ("N/A", ""), ("n.a.", "n.a."),
    ("Lorem", "Ipsum"), ("Unknown", ""), ("Anonymous", "Person"), ("Firstname", "Lastname"),
    ("Mickey", "Mouse"), ("MICKEY", "MOUSE"), ("Homer J.", "Simpson"), ("Santa", "Claus"),
    ("Winnie the", "Pooh"), ("Spider-Man", ""), ("Pikachu", ""), ("A", "B"), ("X", ""),
    ("Zz", "Zz"), ("Aaa", "Bbb"), ("Ñ", "Ñ"), ("Dummy", "Dummy"), ("Nobody", ""),
])  # fmt: skip
def test_placeholder_names(first: str, last: str) -> None:
    assert placeholder_name(first, last)


@pytest.mark.parametrize(("first", "last"), [
    ("Mickey", "Rourke"), ("Donald", "Glover"), ("Lisa", "Kudrow"), ("Kermit", "Ruffins"),
    ("Santa", "Montefiore"), ("Andrew", "Garfield"), ("Wei", "Foo"), ("Li", "Na"),
    ("Yosef", "Bar"), ("Joe", "Sample"), ("Nil", "Aydin"), ("Nan", "Goldin"), ("J", "Smith"),
    ("Jane", "D"), ("Greta", "Nonne"), ("Bo", "Li"), ("Patricia", "Testa"), ("Otto", "Ott"),
    ("Anna", "Hannah"), ("Aaron", "Abbott"), ("José", "Ñúñez"), ("李小龍", ""),
    ("Peter", "Griffith"), ("Mario", "Lopez"), ("", ""),
])  # fmt: skip
def test_real_names_that_look_close_are_not_placeholders(first: str, last: str) -> None:
    assert not placeholder_name(first, last)


@pytest.mark.parametrize("email", [
    "test@gmail.com", "test123@yahoo.com", "t3st@outlook.com", "noemail@gmail.com",
    "no@no.com", "none@none.com", "fake+homes@gmail.com", "jane@example.com",
    "a.b@example.org", "x@site.test", "me@host.invalid", "asdf@aol.com", "xxx@gmail.com",
])  # fmt: skip
def test_placeholder_emails(email: str) -> None:
    assert placeholder_email(email)


@pytest.mark.parametrize("email", [
    "jane.tester@gmail.com", "naomi.test@gmail.com", "a1@gmail.com", "sam@examples.com",
    "nancy@nomad.net", "info@testa-realty.com", "noel@gmail.com", None, "",
])  # fmt: skip
def test_real_mailboxes_are_not_placeholders(email: str | None) -> None:
    assert not placeholder_email(email)


def test_readings_spell_digits_and_collapse_long_runs() -> None:
    assert {"test"} <= readings("T3st-1") and {"test"} <= readings("teeest")
    assert "none" not in readings("Nonne")  # two letters alike stay two


def test_the_simulators_people_are_never_placeholders() -> None:
    rng = random.Random(7)
    for _ in range(5_000):
        person = draw_person(rng, ("512", "206", "312"))
        assert not placeholder_name(person.first_name, person.last_name), person
        assert not placeholder_email(person.email.lower()), person
