from __future__ import annotations

from datetime import UTC, datetime

from schemas.lead import Lead
from streams.features.lead import lead_features


def _lead(**kw: object) -> Lead:
    base: dict[str, object] = {
        "lead_id": "x",
        "source": "portal",
        "source_lead_id": "1",
        "event_time": datetime(2026, 5, 1, 18, 0, tzinfo=UTC),
        "received_time": datetime(2026, 5, 1, 18, 0, 1, tzinfo=UTC),
    }
    return Lead(**{**base, **kw})  # type: ignore[arg-type]


def test_contact_and_intent_flags() -> None:
    x = lead_features(_lead(email="a@b.co", intent="buy", consent=True))
    assert x["has_email"] == 1.0 and x["has_phone"] == 0.0 and x["consent"] == 1.0
    assert x["intent_buy"] == 1.0 and x["intent_rent"] == 0.0
    assert x["source_portal"] == 1.0 and x["source_facebook"] == 0.0


def test_missing_price_is_explicit_not_zero_price() -> None:
    assert lead_features(_lead())["price_missing"] == 1.0
    x = lead_features(_lead(price=450_000.0))
    assert x["price_missing"] == 0.0 and 12.9 < x["log_price"] < 13.1


def test_every_value_is_a_float_and_the_key_set_is_stable() -> None:
    a = lead_features(_lead())
    b = lead_features(_lead(email="a@b.co", price=1.0, beds=3, message="hi there"))
    assert a.keys() == b.keys()
    assert all(isinstance(v, float) for v in b.values())
