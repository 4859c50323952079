"""The lead map: res-7 aggregates rolled up to the display resolution, every layer, and
boundaries from h3."""

from __future__ import annotations

import h3
import pytest

from infra.ops.hexmap import LAYERS, CellRow, build_map
from schemas.market import Buyer, CompetitorOffice

DENVER = (39.7392, -104.9903)


def _r7(lat: float, lon: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, 7))


def test_layers_roll_up_to_the_display_cell() -> None:
    a, b = _r7(*DENVER), _r7(DENVER[0] + 0.01, DENVER[1] + 0.01)
    rows = [CellRow(a, leads=3, score_sum=1.5, quarantined=1, median_price=400_000.0, priced=3),
            CellRow(b, leads=1, score_sum=0.1, quarantined=0, median_price=900_000.0, priced=1)]
    buyers = [Buyer(buyer_id="b1", brokerage_id="x", cells_r7=[a, b]),
              Buyer(buyer_id="b2", brokerage_id="x", cells_r7=[b])]
    offices = [CompetitorOffice(office_id="o1", brokerage="y", lat=DENVER[0], lon=DENVER[1])]
    payload = build_map(rows, buyers, offices, resolution=4)
    assert payload["layers"] == list(LAYERS)
    [cell] = payload["cells"]
    assert cell["cell"] == h3.latlng_to_cell(*DENVER, 4)
    assert cell["leads"] == 4
    assert cell["mean_score"] == pytest.approx(0.4)
    assert cell["fraud_share"] == pytest.approx(0.25)
    assert cell["median_price"] == 400_000.0  # weighted by priced leads: 3 of 4 at 400k
    assert cell["buyers"] == 2  # distinct buyers
    assert cell["offices"] == 1
    assert len(cell["boundary"]) == 6
    lat, lng = cell["boundary"][0]
    assert abs(lat - DENVER[0]) < 1 and abs(lng - DENVER[1]) < 1


def test_cells_without_leads_have_no_lead_layers() -> None:
    offices = [CompetitorOffice(office_id="o1", brokerage="y", lat=DENVER[0], lon=DENVER[1])]
    [cell] = build_map([], [], offices, resolution=5)["cells"]
    assert cell["leads"] == 0
    assert cell["mean_score"] is None and cell["median_price"] is None
    assert cell["offices"] == 1
