"""The commit-offset correction: never commit past an offset that was not processed."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from types import SimpleNamespace

from intervaltree import IntervalTree

from agents.faust_patches import _new_offset

TP = ("leads.raw.portal", 0)


def consumer(committed: int | None, acked: list[int], gap: tuple[int, int] | None = None,
             in_flight: tuple[int, ...] = ()) -> SimpleNamespace:
    gaps: defaultdict[object, IntervalTree] = defaultdict(IntervalTree)
    if gap is not None:
        gaps[TP].addi(*gap)
    unacked = [SimpleNamespace(tp=TP, offset=o, acked=False) for o in in_flight]
    unacked.append(SimpleNamespace(tp=("leads.raw.crm", 0), offset=0, acked=False))
    return SimpleNamespace(
        _acked={TP: list(acked)}, _acked_index={TP: set(acked)},
        _committed_offset={TP: committed}, _gap=gaps, _unacked_messages=unacked,
    )


def test_a_never_acked_head_holds_the_commit() -> None:
    # Faust's own logic would commit 21 here and lose offset 18 for good.
    assert _new_offset(consumer(18, [19, 20]), TP) is None


def test_a_fresh_partitions_first_commit_waits_for_older_messages_in_flight() -> None:
    # No committed offset yet: Faust's own logic would commit 6 with offsets 0-4 unacked
    # (messages held on purpose until the scorer's checkpoint: E1 lost their lessons).
    assert _new_offset(consumer(None, [5], in_flight=(0, 1, 2, 3, 4, 6)), TP) is None
    # Only later messages in flight (and another partition's): the acked run commits.
    assert _new_offset(consumer(None, [0, 1, 2], in_flight=(4,)), TP) == 3


def test_consecutive_acks_from_the_committed_offset_commit() -> None:
    assert _new_offset(consumer(18, [18, 19, 20]), TP) == 21


def test_offsets_the_log_does_not_have_do_not_hold_it() -> None:
    # After a seek to 18 Faust records the missing range from 19 (retention deleted 18..24).
    assert _new_offset(consumer(18, [25, 26], gap=(19, 25)), TP) == 27


def test_a_first_commit_is_not_held() -> None:
    assert _new_offset(consumer(None, [0, 1, 2]), TP) == 3


def test_applied_by_building_the_app_not_by_importing() -> None:
    probe = (
        "from faust.transport.consumer import Consumer\n"
        "from agents import faust_patches\n"
        "import agents.app, agents.worker\n"
        "assert Consumer._new_offset is not faust_patches._new_offset, 'patched at import'\n"
        "from infra.settings import Settings\n"
        "agents.app.build_app(Settings(topic_prefix='probe.'))\n"
        "assert Consumer._new_offset is faust_patches._new_offset, 'not patched at start-up'\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


async def test_a_delivery_cancelled_half_way_still_reaches_every_agent() -> None:
    # Faust's drain loop cancels the delivery when flow is suspended, yet marks the message
    # read: the agents that had not received it yet would never see it.
    import asyncio

    from agents.faust_patches import deliver_whole

    reached: list[str] = []
    gate = asyncio.Event()

    async def deliver(message: object) -> None:
        reached.append("first agent")
        await gate.wait()  # the next channel's queue is full
        reached.append("second agent")

    message = SimpleNamespace(topic="leads.scored", partition=0, offset=7)
    delivery = asyncio.ensure_future(deliver_whole(deliver)(message))
    await asyncio.sleep(0.01)
    delivery.cancel()  # what wait_first(callback(message), suspend_flow.wait()) does
    await asyncio.sleep(0)
    gate.set()
    await asyncio.sleep(0.01)
    assert reached == ["first agent", "second agent"]
    assert delivery.cancelled()
