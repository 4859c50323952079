"""The commit-offset correction: never commit past an offset that was not processed."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from types import SimpleNamespace

from intervaltree import IntervalTree

from agents.faust_patches import _new_offset

TP = ("leads.raw.portal", 0)


def consumer(committed: int | None, acked: list[int], gap: tuple[int, int] | None = None
             ) -> SimpleNamespace:
    gaps: defaultdict[object, IntervalTree] = defaultdict(IntervalTree)
    if gap is not None:
        gaps[TP].addi(*gap)
    return SimpleNamespace(
        _acked={TP: list(acked)}, _acked_index={TP: set(acked)},
        _committed_offset={TP: committed}, _gap=gaps,
    )


def test_a_never_acked_head_holds_the_commit() -> None:
    # Faust's own logic would commit 21 here and lose offset 18 for good.
    assert _new_offset(consumer(18, [19, 20]), TP) is None


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
