"""Champion/challenger: hash split, per-arm progressive metrics, promotion, checkpoints."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from river import metrics

from agents.models import ScorerCheckpoints, change_offline, load_scorer
from infra.settings import Settings
from infra.stack.ports import free_port
from streams.scoring.arms import (
    CHALLENGER,
    CHAMPION,
    CalibrationError,
    NoChallenger,
    NothingToRollBack,
    Scorer,
)
from streams.scoring.model import ConversionModel

LR = "StandardScaler|LogisticRegression"
FROZEN = "LogisticRegression(lr=0.0, intercept_lr=0.0)"  # learns nothing: 0.5 for all


def _rows(seed: int, n: int) -> list[tuple[dict[str, float], bool]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x = {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)}
        rows.append((x, x["a"] - x["b"] + rng.gauss(0, 0.7) > 1.0))
    return rows


# --- the split -----------------------------------------------------------------------


def test_split_is_deterministic_and_near_the_share() -> None:
    scorer = Scorer.from_specs(LR, LR, challenger_share=0.2)
    ids = [f"portal:{i}" for i in range(20_000)]
    arms = [scorer.arm_for(i) for i in ids]
    share = arms.count(CHALLENGER) / len(ids)
    assert share == pytest.approx(0.2, abs=0.012)  # ~4 binomial standard deviations
    # Another scorer, or this one after a round trip, splits the same ids the same way.
    again = Scorer.loads(Scorer.from_specs(LR, LR, challenger_share=0.2).dumps())
    assert [again.arm_for(i) for i in ids] == arms


def test_a_larger_share_only_moves_leads_to_the_challenger() -> None:
    small = Scorer.from_specs(LR, LR, challenger_share=0.1)
    large = Scorer.from_specs(LR, LR, challenger_share=0.3)
    ids = [f"crm:{i}" for i in range(5_000)]
    assert all(large.arm_for(i) == CHALLENGER for i in ids if small.arm_for(i) == CHALLENGER)


@pytest.mark.parametrize(("challenger", "share"), [(LR, 0.0), (None, 0.5)])
def test_no_challenger_or_no_share_serves_everything_from_the_champion(
    challenger: str | None, share: float
) -> None:
    scorer = Scorer.from_specs(LR, challenger, challenger_share=share)
    assert {scorer.score_one(f"x{i}", {"a": 1.0}).arm for i in range(500)} == {CHAMPION}


def test_the_serving_arm_scores_and_names_its_model() -> None:
    scorer = Scorer.from_specs(LR, "GaussianNB", challenger_share=0.5)
    for x, y in _rows(1, 300):
        scorer.learn_one(x, y)
    x = {"a": 2.0, "b": -1.0}
    for lead_id in ("a1", "b2", "c3", "d4", "e5", "f6"):
        scored = scorer.score_one(lead_id, x)
        arm = scorer.arms[scored.arm]
        assert scored.arm == scorer.arm_for(lead_id)
        assert scored.model_version == arm.model.version
        assert scored.score == arm.calibrator.calibrate(arm.model.score_one(x))
        # The linear champion explains itself; naive Bayes has no reasons to give.
        assert bool(scored.reasons) is (scored.arm == CHAMPION)


def test_bad_share_is_refused() -> None:
    with pytest.raises(ValueError, match="challenger_share"):
        Scorer.from_specs(LR, LR, challenger_share=1.5)


# --- learning and metrics ------------------------------------------------------------


def test_both_arms_learn_every_outcome_and_judge_it_first() -> None:
    scorer = Scorer.from_specs(LR, FROZEN, challenger_share=0.1)
    rows = _rows(2, 1_500)
    for x, y in rows:
        scorer.learn_one(x, y)
    champion, challenger = scorer.champion, scorer.challenger
    assert challenger is not None
    assert champion.model.n_learned == challenger.model.n_learned == len(rows)
    assert champion.metric("roc_auc") > 0.85  # type: ignore[operator]
    # One raw score for every lead (the calibrator only moves it between refits).
    assert challenger.metric("roc_auc") == pytest.approx(0.5, abs=0.02)
    # The champion's importances follow its weights: a and b matter, nothing else exists.
    assert set(champion.importance.get()) == {"a", "b"}
    status = scorer.status()
    assert status["arms"][CHAMPION]["labels"] == len(rows)
    assert set(status["arms"][CHAMPION]["metrics"]) == {
        "roc_auc", "log_loss", "calibration_error", "raw_calibration_error"}
    assert set(status["arms"][CHAMPION]["lifetime"]) == {"roc_auc", "log_loss",
                                                         "calibration_error", "label_delay_s"}
    assert set(status["metric_kinds"]) == {"metrics", "lifetime", "hour"}  # each says what it is
    assert "rolling" in status["metric_kinds"]["metrics"]
    assert "cumulative" in status["metric_kinds"]["lifetime"]


def test_custom_metrics_are_fresh_per_arm() -> None:
    scorer = Scorer.from_specs(LR, LR, metrics={"auc": metrics.ROCAUC()})
    for x, y in _rows(3, 200):
        scorer.learn_one(x, y)
    assert scorer.champion.metrics["auc"] is not scorer.challenger.metrics["auc"]  # type: ignore[union-attr]
    assert scorer.champion.metric("auc") == scorer.challenger.metric("auc")  # type: ignore[union-attr]


# --- promotion ------------------------------------------------------------------------


def test_promote_swaps_arms_and_rollback_restores_the_previous_champion() -> None:
    scorer = Scorer.from_specs(FROZEN, LR, challenger_share=0.1)
    first, second = scorer.champion.model, scorer.challenger.model  # type: ignore[union-attr]
    with pytest.raises(NothingToRollBack):
        scorer.rollback()
    scorer.promote()
    assert scorer.champion.model is second and scorer.challenger.model is first  # type: ignore[union-attr]
    for x, y in _rows(4, 50):
        scorer.learn_one(x, y)  # the demoted champion keeps learning
    assert scorer.can_roll_back
    scorer.rollback()
    assert scorer.champion.model is first and first.n_learned == 50
    assert not scorer.can_roll_back
    assert [e["action"] for e in scorer.history] == ["promote", "rollback"]


def test_promote_needs_a_challenger() -> None:
    with pytest.raises(NoChallenger):
        Scorer.from_specs(LR).promote()


def test_rule_promotes_a_clearly_better_challenger_once_it_has_enough_labels() -> None:
    scorer = Scorer.from_specs(FROZEN, LR, challenger_share=0.1)
    better = scorer.challenger.model  # type: ignore[union-attr]
    rows = _rows(5, 600)
    for x, y in rows[:299]:
        scorer.learn_one(x, y)
    assert not scorer.maybe_promote(min_labels=300, margin=0.05)  # too few labels yet
    scorer.learn_one(*rows[299])
    assert not scorer.maybe_promote(min_labels=0, margin=0.05)  # 0 = never automatically
    assert scorer.maybe_promote(min_labels=300, margin=0.05)
    assert scorer.champion.model is better
    assert scorer.history[-1]["trigger"] == "auto" and scorer.labels_since_change == 0
    for x, y in rows[300:]:
        scorer.learn_one(x, y)
    assert not scorer.maybe_promote(min_labels=300, margin=0.05)  # the frozen one is worse


def test_rule_keeps_the_champion_when_the_challenger_is_not_better_by_the_margin() -> None:
    scorer = Scorer.from_specs(LR, LR, challenger_share=0.1)
    for x, y in _rows(6, 400):
        scorer.learn_one(x, y)
    assert not scorer.maybe_promote(min_labels=100, margin=0.01)  # identical twins


def test_reconcile_rebuilds_only_the_arms_whose_spec_changed() -> None:
    scorer = Scorer.from_specs(LR, LR, challenger_share=0.1)
    for x, y in _rows(7, 100):
        scorer.learn_one(x, y)
    scorer.promote()
    assert scorer.reconcile(LR, LR, seed=42) == []  # unchanged settings keep the promotion
    assert scorer.can_roll_back and scorer.champion.model.name == "m2"
    changed = scorer.reconcile(LR, "GaussianNB", seed=42)
    assert changed == [f"challenger {LR} → GaussianNB"]
    assert scorer.champion.model.n_learned == 100  # kept, warm
    assert scorer.challenger.model.spec == "GaussianNB" and scorer.challenger.model.n_learned == 0  # type: ignore[union-attr]
    assert scorer.challenger.model.name == "m3"  # type: ignore[union-attr]
    assert not scorer.can_roll_back
    scorer.reconcile(LR, None, seed=42)
    assert scorer.challenger is None and scorer.arm_for("anything") == CHAMPION


# --- calibration ----------------------------------------------------------------------


def test_calibration_error_is_zero_when_predictions_match_rates() -> None:
    metric = CalibrationError(n_bins=10)
    for i in range(100):
        metric.update(i < 25, 0.25)  # said 25 %, 25 % converted
        metric.update(i < 5, {False: 0.95, True: 0.05})
    assert metric.get() == pytest.approx(0.0, abs=1e-12)
    assert metric.mean_predicted == pytest.approx(0.15)
    assert metric.positive_rate == pytest.approx(0.15)


def test_calibration_error_weighs_each_bin_by_its_labels_and_reverts() -> None:
    metric = CalibrationError(n_bins=10)
    for i in range(100):
        metric.update(i < 7, 0.3)  # 30 % said, 7 % happened: gap 0.23 on all labels
    assert metric.get() == pytest.approx(0.23)
    for i in range(100):
        metric.update(i < 90, 0.9)  # perfect bin with as many labels: halves the error
    assert metric.get() == pytest.approx(0.115)
    for i in range(100):
        metric.revert(i < 90, 0.9)
    assert metric.get() == pytest.approx(0.23)


# --- checkpoints (agents/models.py) -------------------------------------------------


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(state_dir=tmp_path, topic_prefix="t.", **kw)  # type: ignore[arg-type]


def test_checkpoints_are_versioned_pruned_and_point_at_the_newest(tmp_path: Path) -> None:
    checkpoints = ScorerCheckpoints(tmp_path, "t.", keep=3)
    scorer = Scorer.from_specs(LR, LR)
    for x, y in _rows(8, 7):
        scorer.learn_one(x, y)
        last = checkpoints.save(scorer)
    assert [p.name for p in checkpoints.versions()] == [
        "t.scorer-00000005.pkl", "t.scorer-00000006.pkl", "t.scorer-00000007.pkl"]
    assert checkpoints.current() == last
    restored, path = checkpoints.load()  # type: ignore[misc]
    assert path == last and restored.champion.model.version == scorer.champion.model.version


def test_an_unreadable_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    checkpoints = ScorerCheckpoints(tmp_path, "t.")
    scorer = Scorer.from_specs(LR)
    scorer.learn_one({"a": 1.0}, True)
    good = checkpoints.save(scorer)
    torn = checkpoints.save(scorer)
    torn.write_bytes(b"not a pickle")
    restored, path = checkpoints.load()  # type: ignore[misc]
    assert path == good and restored.champion.model.n_learned == 1


def test_load_scorer_restores_and_lets_settings_win(tmp_path: Path) -> None:
    settings = _settings(tmp_path, challenger_share=0.1, reason_codes=3)
    scorer = load_scorer(settings)  # nothing saved yet: fresh models from settings
    assert scorer.champion.model.n_learned == 0 and scorer.challenger is not None
    for x, y in _rows(9, 40):
        scorer.learn_one(x, y)
    scorer.promote()
    ScorerCheckpoints.of(settings).save(scorer)

    again = load_scorer(_settings(tmp_path, challenger_share=0.3, reason_codes=1))
    assert again.champion.model.name == "m2" and again.champion.model.n_learned == 40
    assert again.challenger_share == 0.3 and again.reason_codes == 1
    changed = load_scorer(_settings(tmp_path, model_spec="GaussianNB"))
    assert changed.champion.model.spec == "GaussianNB" and changed.champion.model.n_learned == 0


def test_a_pre_scorer_model_checkpoint_becomes_the_champion(tmp_path: Path) -> None:
    legacy = ConversionModel(name="champion")
    legacy.learn_one({"a": 1.0}, True)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "t.champion.pkl").write_bytes(legacy.dumps())
    scorer = load_scorer(_settings(tmp_path))
    assert scorer.champion.model.version == legacy.version


def test_offline_promotion_changes_the_checkpoint(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    scorer = load_scorer(settings)
    ScorerCheckpoints.of(settings).save(scorer)
    status = change_offline(settings, "promote")
    assert status["arms"][CHAMPION]["model"] == "m2" and status["can_roll_back"]
    assert load_scorer(settings).champion.model.name == "m2"
    change_offline(settings, "rollback")
    assert load_scorer(settings).champion.model.name == "m1"


def test_cli_model_commands_work_on_the_checkpoint_when_no_worker_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from infra.cli import main

    settings = _settings(tmp_path)
    scorer = load_scorer(settings)
    for x, y in _rows(10, 300):
        scorer.learn_one(x, y)
    ScorerCheckpoints.of(settings).save(scorer)
    env = {"AIQ_STATE_DIR": str(tmp_path), "AIQ_TOPIC_PREFIX": "t.",
           "AIQ_WORKER_WEB_PORT": str(free_port())}  # nothing listens there
    runner = CliRunner()
    shown = runner.invoke(main, ["model", "status"], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    champion_line = next(line for line in lines if line.startswith("champion "))
    assert "m1-" in champion_line
    lifetime = next(line.split() for line in lines if line.startswith("champion    lifetime"))
    assert lifetime[2] == "300"
    assert any(line.startswith("champion    last hour") for line in lines)
    assert "champion importance: a " in shown.output or "champion importance: b " in shown.output
    assert runner.invoke(main, ["model", "promote"], env=env).exit_code == 0
    assert load_scorer(settings).champion.model.name == "m2"
    assert runner.invoke(main, ["model", "rollback"], env=env).exit_code == 0
    refused = runner.invoke(main, ["model", "rollback"], env=env)
    assert refused.exit_code == 1 and "no promotion to roll back" in refused.output


def test_the_last_hour_sits_beside_the_lifetime_figures() -> None:
    scorer = Scorer.from_specs(LR, LR)
    hour_ms = 3_600_000
    rows = _rows(4, 3_000)
    for i, (x, y) in enumerate(rows):  # one label a second: 3,000 s of labels
        said = scorer.learn_one(x, y, at_ms=i * 1_000, delay_s=60.0 + i % 2)
        assert set(said) == {CHAMPION, CHALLENGER}
    arm = scorer.status(now_ms=3_000 * 1_000)["arms"][CHAMPION]
    assert arm["hour"]["labels"] == 3_000 and arm["lifetime"]["label_delay_s"] == 60.5
    # Half an hour later only the last half hour's labels are in the hour.
    later = scorer.status(now_ms=3_000 * 1_000 + hour_ms // 2)["arms"][CHAMPION]["hour"]
    assert later["labels"] == 1_799  # labels after 1,200 s: 1,201 s .. 2,999 s
    assert later["roc_auc"] > 0.85 and later["label_delay_s"] == pytest.approx(60.5, abs=1e-3)
    # An idle hour reads as no labels, never as a stale figure.
    idle = scorer.status(now_ms=10 * hour_ms)["arms"][CHAMPION]["hour"]
    assert idle["labels"] == 0 and idle["roc_auc"] is None and idle["log_loss"] is None
