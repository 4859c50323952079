"""The fraud screen: each stateful rule on its pattern, state bounds, pickling, real traffic."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from schemas.lead import Lead
from streams.checkpoint import CheckpointError
from streams.enrich import h3_cells
from streams.fraud.screen import (
    CLEAN,
    RULE_WEIGHTS,
    FraudScreen,
    RecentEvents,
    VelocityLimits,
    distinct_areas,
    noisy_or,
)
from streams.identity import lead_id
from tests.bench.bench_fraud import judge, screened_rows

NOW = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
AUSTIN = ("TX", 30.2672, -97.7431)
AUSTIN_NORTH = ("TX", 30.3922, -97.7256)  # ~14 km away: the same metro
DENVER = ("CO", 39.7392, -104.9903)
SEATTLE = ("WA", 47.6062, -122.3321)
_serial = iter(range(10**9))


def lead(
    where: tuple[str, float, float] = AUSTIN,
    *,
    email: str | None = "jane.doe@gmail.com",
    phone: str | None = "+15124561234",
    first: str = "Jane",
    last: str = "Doe",
    ip: str | None = None,
    at: datetime = NOW,
) -> tuple[Lead, int]:
    state, lat, lon = where
    source_id = f"t-{next(_serial)}"
    built = Lead(
        lead_id=lead_id("portal", source_id),
        source="portal",
        source_lead_id=source_id,
        event_time=at,
        received_time=at + timedelta(seconds=2),
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        state=state,
        lat=lat,
        lon=lon,
        location_precision="exact",
        consent=True,
        ip=ip,
    )
    return built, h3_cells(lat, lon).r7


def screen_all(screen: FraudScreen, leads: list[tuple[Lead, int]]) -> list:
    return [screen.screen_one(one, r7, NOW_MS) for one, r7 in leads]


def test_a_clean_lead_is_clean() -> None:
    assert FraudScreen().screen_one(*lead(), NOW_MS) == CLEAN


def test_score_is_the_noisy_or_of_the_fired_rules() -> None:
    verdict = FraudScreen().screen_one(
        *lead(email="asdf@mailinator.com", first="Asdf", last="Qwer"), NOW_MS
    )
    # "asdf@" is also a filler mailbox: three rules, in RULE_WEIGHTS order.
    assert verdict.reasons == ("disposable_email", "gibberish_name", "placeholder_email")
    expected = noisy_or([RULE_WEIGHTS["disposable_email"], RULE_WEIGHTS["gibberish_name"],
                         RULE_WEIGHTS["placeholder_email"]])
    assert verdict.score == pytest.approx(expected)
    assert verdict.quarantined


def test_the_threshold_decides_quarantine() -> None:
    gibberish = lead(first="Asdf", last="Qwer")
    assert FraudScreen().screen_one(*gibberish, NOW_MS).quarantined
    assert not FraudScreen(threshold=0.95).screen_one(*gibberish, NOW_MS).quarantined
    typo = FraudScreen().screen_one(*lead(email="jane@gmial.com"), NOW_MS)
    assert typo.reasons == ("email_domain_typo",) and not typo.quarantined


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        FraudScreen(threshold=0.0)
    with pytest.raises(ValueError, match="unknown fraud rules"):
        FraudScreen(weights={"vibes": 0.5})


def test_velocity_email_fires_in_a_second_metro() -> None:
    first, again, elsewhere = screen_all(
        FraudScreen(),
        [lead(phone=None), lead(AUSTIN_NORTH, phone=None), lead(DENVER, phone=None)],
    )
    assert first == CLEAN
    assert again == CLEAN  # the same person about the same metro: a re-send, dedupe's job
    assert elsewhere.reasons == ("velocity_email",) and elsewhere.quarantined
    assert elsewhere.implicated == ()  # two metros may be two people: nothing pulled yet


def test_a_third_metro_pulls_back_the_earlier_leads_of_the_burst() -> None:
    leads = [lead(where, phone=None) for where in (AUSTIN, AUSTIN_NORTH, DENVER, SEATTLE)]
    screen = FraudScreen()
    verdicts = screen_all(screen, leads)
    assert [v.quarantined for v in verdicts] == [False, False, True, True]
    # Denver was quarantined on arrival; Seattle's verdict names the two Austin leads.
    assert verdicts[3].implicated == tuple(sorted(one.lead_id for one, _ in leads[:2]))
    assert screen.take_implicating() == [verdicts[3]]
    assert screen.take_implicating() == []  # taken once


def test_pull_from_two_pulls_back_on_the_second_metro() -> None:
    leads = [lead(phone=None), lead(DENVER, phone=None)]
    first, elsewhere = screen_all(FraudScreen(limits=VelocityLimits(pull_from=2)), leads)
    assert first == CLEAN
    assert elsewhere.quarantined and elsewhere.implicated == (leads[0][0].lead_id,)


def test_a_burst_split_over_two_shared_screens_is_judged_as_one_screen_judges_it() -> None:
    # Austin and Denver reach one worker, Seattle the other: alone, neither sees a burst.
    here, there = FraudScreen(), FraudScreen()
    here.share()
    there.share()
    leads = [lead(where, phone=None) for where in (AUSTIN, DENVER, SEATTLE)]
    screen_all(here, leads[:2])
    for sighting in here.take_sightings():
        assert there.observe(sighting, NOW_MS) is None  # nothing implicated yet
    seattle = there.screen_one(*leads[2], NOW_MS)
    alone = screen_all(FraudScreen(), leads)[2]
    assert seattle == alone and seattle.implicated == (leads[0][0].lead_id,)
    # Its sighting tells the first screen, which sent Austin, to pull Austin back.
    (sighting,) = there.take_sightings()
    assert sighting.lead_id == leads[2][0].lead_id and sighting.quarantined
    told = here.observe(sighting, NOW_MS)
    assert told is not None and told.implicated == seattle.implicated and told.quarantined
    # ...and Austin counts as dealt with there: a fourth metro does not name it again.
    portland = here.screen_one(*lead(("OR", 45.5152, -122.6784), phone=None), NOW_MS)
    assert portland.quarantined and leads[0][0].lead_id not in portland.implicated


def test_a_sighting_seen_twice_counts_once_and_unshared_screens_keep_none() -> None:
    here, there = FraudScreen(), FraudScreen()
    here.share()
    screen_all(here, [lead(phone=None, ip="203.0.113.9")])
    (sighting,) = here.take_sightings()
    assert here.take_sightings() == []
    for _ in range(3):  # a replay of the topic after a restart
        there.observe(sighting, NOW_MS)
    assert there.state_size() == {"email": 1, "phone": 0, "ip": 1}
    assert there._by_email.within(sighting.email_key or "", NOW_MS, 1) == [
        (sighting.event_ms, sighting.h3_r7, sighting.identity, sighting.lead_id, False)]
    screen_all(there, [lead(DENVER, phone=None)])
    assert there.take_sightings() == []  # not shared: nothing piles up


def test_a_shared_inbox_is_not_a_burst() -> None:
    # A couple with one address and their own phones, house-hunting in two cities.
    jane = lead(first="Jane", phone="+15124561234")
    mark = lead(DENVER, first="Mark", phone="+17204561234")
    assert screen_all(FraudScreen(), [jane, mark]) == [CLEAN, CLEAN]


def test_velocity_phone_fires_across_metros_whatever_the_email() -> None:
    verdicts = screen_all(
        FraudScreen(),
        [lead(email="a1@gmail.com"), lead(DENVER, email="b2@yahoo.com"), lead(SEATTLE, email=None)],
    )
    assert verdicts[0] == CLEAN
    assert "velocity_phone" in verdicts[1].reasons and verdicts[2].quarantined


def test_velocity_windows_follow_event_time() -> None:
    later = NOW + timedelta(minutes=40)
    verdicts = screen_all(FraudScreen(), [lead(phone=None), lead(DENVER, phone=None, at=later)])
    assert verdicts[1] == CLEAN


def test_velocity_ip_needs_two_metros_within_ten_minutes() -> None:
    ip = "73.12.200.9"
    soon, later = NOW + timedelta(seconds=30), NOW + timedelta(minutes=3)
    near, same_metro, far = screen_all(
        FraudScreen(),
        [
            lead(email="a@gmail.com", phone=None, ip=ip),
            lead(AUSTIN_NORTH, email="b@gmail.com", phone=None, ip=ip, at=soon),
            lead(DENVER, email="c@gmail.com", phone=None, ip=ip, at=later),
        ],
    )
    assert near == CLEAN
    assert same_metro == CLEAN  # a household or an office
    assert far.reasons == ("velocity_ip",) and far.quarantined


def test_velocity_ip_in_three_metros_pulls_back_the_first() -> None:
    ip = "73.12.200.9"
    leads = [
        lead(where, email=f"{i}@gmail.com", phone=None, ip=ip, at=NOW + timedelta(minutes=i))
        for i, where in enumerate((AUSTIN, DENVER, SEATTLE))
    ]
    verdicts = screen_all(FraudScreen(), leads)
    assert verdicts[1].reasons == ("velocity_ip",) and verdicts[1].implicated == ()
    assert verdicts[2].implicated == (leads[0][0].lead_id,)


def test_bot_timing_is_several_identities_from_one_ip_in_a_second() -> None:
    ip = "24.6.7.8"
    leads = [lead(email=f"u{i}@gmail.com", phone=None, ip=ip) for i in range(4)]
    verdicts = screen_all(FraudScreen(), leads)
    assert verdicts[0] == CLEAN
    assert all(v.reasons == ("bot_timing",) and v.quarantined for v in verdicts[1:])
    assert verdicts[1].implicated == ()  # two identities may be a couple on one router
    assert verdicts[2].implicated == (leads[0][0].lead_id,)  # a third: pulled back, once
    assert verdicts[3].implicated == ()


def test_a_double_click_is_not_a_bot() -> None:
    ip = "24.6.7.8"
    verdicts = screen_all(FraudScreen(), [lead(ip=ip), lead(ip=ip)])
    assert verdicts == [CLEAN, CLEAN]


def test_distinct_areas_merges_neighbouring_metro_cells() -> None:
    austin, north = h3_cells(*AUSTIN[1:]).r7, h3_cells(*AUSTIN_NORTH[1:]).r7
    denver = h3_cells(*DENVER[1:]).r7
    assert distinct_areas([austin, north]) == 1
    assert distinct_areas([austin, north, denver, 0, 0]) == 3


def test_state_is_bounded() -> None:
    screen = FraudScreen(limits=VelocityLimits(max_keys=100))
    for i in range(1000):
        screen.screen_one(*lead(email=f"p{i}@gmail.com", phone=None, ip=f"24.0.{i // 250}.{i}"), i)
    assert all(size <= 200 for size in screen.state_size().values())


def test_a_checkpoint_resumes_exactly() -> None:
    screen = FraudScreen()
    stream = [lead(email=f"p{i % 40}@gmail.com", phone=None, ip="24.1.2.3") for i in range(60)]
    stream += [lead(where, phone=None) for where in (AUSTIN, DENVER, SEATTLE)]
    screen_all(screen, stream[:30])
    clone = FraudScreen.loads(screen.dumps())
    assert screen_all(clone, stream[30:]) == screen_all(screen, stream[30:])
    with pytest.raises(CheckpointError):
        FraudScreen.loads(pickle.dumps({"not": "a screen"}))


def test_a_checkpoint_dumped_in_steps_resumes_like_one_dumped_at_once() -> None:
    screen = FraudScreen()
    stream = [lead(email=f"p{i % 40}@gmail.com", phone=None, ip=f"24.1.2.{i % 7}")
              for i in range(60)]
    screen_all(screen, stream[:30])
    whole = screen.dumps()
    steps = screen.dump_steps(keys_a_step=5)
    next(steps)
    taken = 1
    while True:  # the screen keeps working between steps, as on the worker's loop
        screen.screen_one(*lead(email=f"late{taken}@gmail.com", phone=None), NOW_MS)
        try:
            next(steps)
            taken += 1
        except StopIteration as done:
            blob = done.value
            break
    assert taken == 8  # 30 emails and 7 IPs, 5 keys a step
    # As it was when the dump started: the late leads' keys are not in it.
    in_steps, at_once = FraudScreen.loads(blob), FraudScreen.loads(whole)
    assert in_steps.state_size() == at_once.state_size() == {"email": 30, "phone": 0, "ip": 7}
    assert screen_all(in_steps, stream[30:]) == screen_all(at_once, stream[30:])


def test_a_checkpoint_from_before_pull_backs_still_loads() -> None:
    screen = FraudScreen()
    screen_all(screen, [lead(phone=None), lead(DENVER, phone=None)])
    # What older checkpoints hold: no pending verdicts, limits without `pull_from`.
    state = dict(screen.__dict__)
    del state["_implicating"]
    old_limits = object.__new__(VelocityLimits)
    for name in ("contact_window_ms", "contact_areas", "ip_window_ms", "ip_areas",
                 "bot_window_ms", "bot_identities", "max_keys", "max_entries"):
        object.__setattr__(old_limits, name, getattr(screen.limits, name))
    state["limits"] = old_limits
    restored = object.__new__(FraudScreen)
    restored.__setstate__(state)
    assert restored.limits == VelocityLimits() and restored.take_implicating() == []
    third = restored.screen_one(*lead(SEATTLE, phone=None), NOW_MS)
    assert third.quarantined and len(third.implicated) == 1


def test_the_windows_checkpoint_as_msgpack_and_old_pickled_windows_still_load() -> None:
    windows = RecentEvents(span_ms=60_000, max_keys=2, max_entries=8)
    for i, key in enumerate(["a", "b", "c", "a"]):  # the third key rotates a generation
        windows.add(key, (NOW_MS + i, 617_700_169_958_293_503, i, f"lead-{i}", i == 1), NOW_MS)
    assert isinstance(windows.__getstate__()["generations"], bytes)  # packed, not pickled
    blob = pickle.dumps(windows)
    for restored in (pickle.loads(blob), object.__new__(RecentEvents)):
        if not hasattr(restored, "span_ms"):  # what checkpoints before msgpack held
            restored.__setstate__(dict(windows.__dict__))
        for key in "abc":
            assert restored.within(key, NOW_MS, 60_000) == windows.within(key, NOW_MS, 60_000)
        assert len(restored) == len(windows) == 3 and restored.span_ms == 60_000


def test_verdicts_do_not_depend_on_the_process_hash_seed() -> None:
    # Identities are CRC32s, not hash(): a restored checkpoint agrees with its past self.
    a = screen_all(FraudScreen(), [lead(email=f"x{i}@gmail.com", ip="24.9.9.9") for i in range(3)])
    assert [v.reasons for v in a] == [(), ("bot_timing",), ("bot_timing",)]


def test_precision_and_recall_on_generated_traffic() -> None:
    rows = screened_rows(4000, seed=11)
    arrival, pullback, _ = judge(rows, FraudScreen())
    assert arrival.tp + arrival.fn > 150  # enough fraud to mean something
    assert arrival.precision >= 0.9, arrival.fp_reasons
    assert arrival.recall >= 0.9, arrival.caught
    assert pullback.recall >= 0.97 and pullback.precision >= 0.9, pullback.caught
    for pattern in ("disposable_email", "unassignable_phone", "gibberish_name"):
        assert arrival.caught[pattern] == arrival.by_pattern[pattern] > 0
