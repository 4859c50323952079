"""Checkpoint files: atomic, checksummed, versioned, and readable across module moves."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from infra.checkpoints import MAGIC, CheckpointFile, VersionedCheckpoints, read_checked
from streams.checkpoint import CheckpointError, Pickled
from streams.fraud.screen import FraudScreen
from streams.scoring.arms import Scorer
from streams.serve.recommender import Recommender

DATA = Path(__file__).resolve().parents[1] / "streams" / "data"


class Box(Pickled):
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


def test_a_file_is_framed_with_a_checksum_and_reads_back(tmp_path: Path) -> None:
    file = CheckpointFile.in_dir(tmp_path, "box")
    file.save(Box(7).dumps())
    assert file.path.read_bytes().startswith(MAGIC)
    restored = file.load(Box.loads)
    assert restored is not None and restored.value == 7
    assert [p.name for p in tmp_path.iterdir()] == ["box.pkl"]  # no temporary left


def test_a_corrupt_file_is_never_loaded(tmp_path: Path) -> None:
    file = CheckpointFile.in_dir(tmp_path, "box")
    file.save(Box(7).dumps())
    data = bytearray(file.path.read_bytes())
    data[-3] ^= 0xFF  # one flipped bit deep in the pickle
    file.path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        read_checked(file.path)
    assert file.load(Box.loads) is None


def test_a_torn_file_is_never_loaded(tmp_path: Path) -> None:
    file = CheckpointFile.in_dir(tmp_path, "box")
    file.save(Box(7).dumps())
    file.path.write_bytes(file.path.read_bytes()[:-10])
    assert file.load(Box.loads) is None


def test_a_bare_pickle_from_before_checksums_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "box.pkl"
    path.write_bytes(pickle.dumps(Box(3)))
    restored = CheckpointFile(path).load(Box.loads)
    assert restored is not None and restored.value == 3


def test_a_foreign_object_is_refused() -> None:
    with pytest.raises(CheckpointError, match="not a Box"):
        Box.loads(pickle.dumps({"value": 1}))


def test_versions_fall_back_to_the_newest_readable(tmp_path: Path) -> None:
    versions = VersionedCheckpoints(tmp_path, "box", "t.", keep=3)
    paths = [versions.save(Box(i).dumps()) for i in range(5)]
    assert versions.versions() == paths[-3:]
    assert versions.current() == paths[-1]
    paths[-1].write_bytes(b"garbage")
    restored = versions.load(Box.loads)
    assert restored is not None and restored[0].value == 3 and restored[1] == paths[-2]


def test_checkpoints_written_before_the_layout_move_keep_loading() -> None:
    """Pickles written by 58cb97b name `streams.arms`, `streams.fraud`, `streams.reco`…"""
    expected = json.loads((DATA / "checkpoints-58cb97b.json").read_text())
    scorer_blob = (DATA / "scorer-58cb97b.pkl").read_bytes()
    assert b"streams.arms" in scorer_blob  # really the old module paths
    scorer = Scorer.loads(scorer_blob)
    scored = scorer.score_one(expected["probe_lead_id"], expected["probe_features"])
    assert scored.score == expected["scorer_score"]
    screen = FraudScreen.loads((DATA / "fraud_screen-58cb97b.pkl").read_bytes())
    assert screen.state_size() == expected["screen_state_size"]
    reco = Recommender.loads((DATA / "recommender-58cb97b.pkl").read_bytes())
    assert reco.affinity("b1", "seg1") == expected["affinity_b1_seg1"]


def test_a_full_disk_keeps_the_last_good_checkpoint_and_says_so(tmp_path: Path) -> None:
    from infra.checkpoints import CheckpointWriteError, failing

    versions = VersionedCheckpoints(tmp_path, "scorer")
    versions.save(b"good")
    # The next version's temporary file lands on a full device.
    (tmp_path / ".scorer-00000002.pkl.tmp").symlink_to("/dev/full")
    with pytest.raises(CheckpointWriteError, match="No space left on device"):
        versions.save(b"newer")
    assert str(versions.pointer) in failing()
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
    assert versions.load(bytes) == (b"good", tmp_path / "scorer-00000001.pkl")
    versions.save(b"newer")  # space again: written, and no longer reported
    assert str(versions.pointer) not in failing()
    assert versions.load(bytes) == (b"newer", tmp_path / "scorer-00000002.pkl")


def test_a_read_only_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    from infra.checkpoints import CheckpointWriteError, failing

    (tmp_path / "models").symlink_to("/sys/kernel")  # read-only, even for root
    screen = CheckpointFile.in_dir(tmp_path / "models", "fraud_screen")
    with pytest.raises(CheckpointWriteError, match=r"cannot write checkpoint .*fraud_screen"):
        screen.save(b"state")
    assert "restore write access" in failing()[str(screen.path)]
