"""The partner registry: the bundled file, loading a custom one, and every configuration mistake."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streams.parse.partner_mappings import (
    EPOCH,
    FIELDS,
    PartnerConfigError,
    PartnerRegistry,
    bundled_partners,
    load_partners,
)


def test_bundled_registry() -> None:
    registry = load_partners(None)
    assert list(registry) == ["homequest", "movewise", "relohub"]
    assert {registry[p].delimiter for p in registry} == {",", ";", "\t"}
    movewise = registry["movewise"]
    assert movewise.fields["phone"] == (4, 5)  # mobile, else the home phone
    assert movewise.values["intent"]["b"] == "buy"  # codes are case-folded
    assert movewise.zone == ZoneInfo("America/Chicago")
    assert registry["relohub"].date_format == EPOCH
    assert registry["homequest"].zone is UTC
    for partner_id in registry:
        spec = registry[partner_id]
        assert set(spec.fields) <= FIELDS
        assert all(0 <= i < len(spec.columns) for pos in spec.fields.values() for i in pos)


def test_lookups_fold_case_and_trim() -> None:
    registry = load_partners(None)
    assert registry.get(" HomeQuest ") is registry["homequest"]
    assert "MOVEWISE" in registry
    assert registry.get("acme") is None
    assert 42 not in registry
    with pytest.raises(KeyError):
        registry["acme"]


def test_the_bundled_registry_is_read_once_and_is_the_bundled_file() -> None:
    assert bundled_partners() is bundled_partners()
    assert list(bundled_partners()) == list(load_partners(None))


GOOD = {"columns": ["Email", "When"], "map": {"email": "Email", "event_time": "When"}}


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "partners.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_a_custom_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "format": "aiqleads-partners/1",
            "partners": {
                "acme-leads": {
                    **GOOD,
                    "delimiter": "|",
                    "quotechar": "'",
                    "map": {"email": "Email", "phone": ["Email", "When"], "event_time": "When"},
                    "values": {"intent": {"B": "buy"}},
                    "defaults": {"consent": "yes"},
                    "date_format": "%d.%m.%Y %H:%M",
                    "timezone": "Europe/Berlin",
                }
            },
        },
    )
    spec = load_partners(path)["acme-leads"]
    assert (spec.delimiter, spec.quotechar, spec.date_format) == ("|", "'", "%d.%m.%Y %H:%M")
    assert spec.fields["phone"] == (0, 1)
    assert spec.defaults == {"consent": "yes"}


@pytest.mark.parametrize(
    ("partner_id", "entry", "problem"),
    [
        ("Acme", GOOD, "ids are"),
        ("", GOOD, "ids are"),
        ("acme", {**GOOD, "columns": []}, "non-empty"),
        ("acme", {**GOOD, "columns": ["Email", "Email"]}, "unique"),
        ("acme", {**GOOD, "delimiter": ",,"}, "delimiter"),
        ("acme", {**GOOD, "delimiter": "\n"}, "delimiter"),
        ("acme", {**GOOD, "quotechar": ","}, "differ"),
        ("acme", {**GOOD, "map": {"e_mail": "Email"}}, "unknown canonical field"),
        ("acme", {**GOOD, "map": {"email": "E-mail"}}, "not in the header"),
        ("acme", {**GOOD, "map": {"email": []}}, "not in the header"),
        ("acme", {**GOOD, "map": {"event_time": "When"}}, "email or a phone"),
        ("acme", {**GOOD, "values": {"intnet": {"B": "buy"}}}, "unknown canonical fields"),
        ("acme", {**GOOD, "defaults": {"colour": "red"}}, "unknown canonical fields"),
        ("acme", {**GOOD, "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ("acme", {**GOOD, "date_format": "%Q"}, "date_format"),
        ("acme", {**GOOD, "header": True}, "unknown field"),
        ("acme", {"columns": ["Email"]}, "map"),
    ],
)
def test_configuration_mistakes_are_named(
    tmp_path: Path, partner_id: str, entry: dict[str, object], problem: str
) -> None:
    path = _write(tmp_path, {"partners": {partner_id: entry}})
    with pytest.raises(PartnerConfigError, match=problem):
        load_partners(path)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", r"partners\.json"),
        ({"format": "aiqleads-partners/2", "partners": {}}, "format"),
        ({"partners": []}, "Expected `object`"),
        ([], "Expected `object`"),
    ],
)
def test_unreadable_files(tmp_path: Path, document: object, problem: str) -> None:
    with pytest.raises(PartnerConfigError, match=problem):
        load_partners(_write(tmp_path, document))


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PartnerConfigError, match=r"nowhere\.json"):
        load_partners(tmp_path / "nowhere.json")


def test_duplicate_ids() -> None:
    spec = load_partners(None)["homequest"]
    with pytest.raises(PartnerConfigError, match="twice"):
        PartnerRegistry([spec, spec])
