"""`aiqleads evaluate`: the scoring path replays labelled streams, exactly as River evaluates."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from river import datasets, evaluate, metrics, stream

from infra.cli import main
from streams.scoring.arms import CHALLENGER, CHAMPION, Scorer
from streams.scoring.evaluate import (
    Labelled,
    csv_rows,
    parse_target,
    render,
    replay,
    scored_csv,
    scored_rows,
)
from streams.scoring.model import Features, build_pipeline
from streams.traffic.labelled import scored_traffic

LR = "StandardScaler|LogisticRegression"
TARGET = "is_phishing"


def _phishing(n: int | None = None) -> list[tuple[str, Features, bool]]:
    return [(str(i), x, y) for i, (x, y) in enumerate(itertools.islice(datasets.Phishing(), n))]


def _river(data: object, spec: str, metric: metrics.base.Metric) -> float:
    return evaluate.progressive_val_score(data, build_pipeline(spec), metric).get()


RIVER_METRICS = ("ROCAUC", "LogLoss", "Accuracy", "F1", "MCC")


@pytest.mark.parametrize("spec", [LR, "StandardScaler|LogisticRegression(lr=0.1)", "GaussianNB"])
@pytest.mark.parametrize("delay", [0, 1, 25])
def test_cumulative_metrics_are_rivers_progressive_validation_exactly(spec: str, delay: int
                                                                      ) -> None:
    scorer = Scorer.from_specs(spec, LR, challenger_share=0.3)
    rows = _phishing(600)  # naive Bayes is slow in River: enough rows to tell models apart
    *_, final = replay(scorer, scored_rows(scorer, rows), every=0, delay=delay,
                       metrics=RIVER_METRICS)
    assert final.labels == 600
    river_rows = [(x, y) for _, x, y in rows]
    for arm, arm_spec in ((CHAMPION, spec), (CHALLENGER, LR)):
        ours = final.cumulative[arm]  # type: ignore[index]
        for name in RIVER_METRICS:
            # Exact equality: the same predictions, in the same order, into the same metric.
            theirs = evaluate.progressive_val_score(
                river_rows, build_pipeline(arm_spec), getattr(metrics, name)(),
                delay=delay or None).get()
            assert ours[name] == theirs, (arm, name)


def test_the_served_score_is_calibrated_and_beats_the_raw_one_on_phishing() -> None:
    scorer = Scorer.from_specs(LR)
    *_, final = replay(scorer, scored_rows(scorer, _phishing()), every=0)
    cumulative = final.cumulative[CHAMPION]  # type: ignore[index]
    # The slow default learning rate leaves the raw probabilities shrunk toward 0.5.
    assert cumulative["ece_raw"] > 0.1
    assert cumulative["ece"] < 0.04
    assert cumulative["log_loss_cal"] < cumulative["LogLoss"] - 0.05
    assert final.arms[CHAMPION]["calibration_error"] < final.arms[CHAMPION][
        "raw_calibration_error"]


def _phishing_csv(path: Path) -> Path:
    """River's own Phishing file, as it ships (the dataset reads this very CSV)."""
    source = Path(datasets.__file__).parent / "phishing.csv.gz"
    path.write_bytes(gzip.decompress(source.read_bytes()))
    return path


def _phishing_csv_with_text(path: Path) -> Path:
    rows = list(datasets.Phishing())
    names = list(rows[0][0])
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names[:3], TARGET, *names[3:], "note"])
        for x, y in rows:
            values = [repr(x[n]) for n in names]
            writer.writerow([*values[:3], "true" if y else "false", *values[3:], "text"])
    return path


@pytest.mark.parametrize("delay", [0, 50])
def test_cli_replay_of_a_public_dataset_equals_rivers_own_call(tmp_path: Path, delay: int
                                                                ) -> None:
    """`aiqleads evaluate` on River's Phishing CSV prints what progressive_val_score says."""
    path = _phishing_csv(tmp_path / "phishing.csv")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, [
        "evaluate", "--csv", str(path), "--target", TARGET, "--model", LR, "--delay",
        str(delay), "--every", "250", "--metric", "ROCAUC", "--metric", "LogLoss",
        "--metric", "Accuracy", "--metric", "MCC", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    ours = report["arms"][CHAMPION]["cumulative"]
    assert report["labels"] == 1250
    with path.open() as f:
        features = next(csv.reader(f))[:-1]
    converters = {**dict.fromkeys(features, float), TARGET: lambda v: v == "1"}
    for name in ("ROCAUC", "LogLoss", "Accuracy", "MCC"):
        # River's call on the same file, read the way its Phishing dataset reads it.
        data = stream.iter_csv(str(path), target=TARGET, converters=converters)
        theirs = evaluate.progressive_val_score(data, build_pipeline(LR), getattr(metrics, name)(),
                                                delay=delay or None).get()
        assert ours[name] == theirs, name
        again = evaluate.progressive_val_score(datasets.Phishing(), build_pipeline(LR),
                                               getattr(metrics, name)(), delay=delay or None)
        assert ours[name] == again.get(), name
    # The printed table names its figures: cumulative as River's, rolling as rolling.
    lines = result.output.splitlines()
    assert lines[0].startswith("# cumulative (as River's progressive_val_score)")
    assert "rolling" in lines[0]
    assert lines[1].split()[:4] == ["labels", "champ:auc", "champ:logl", "champ:acc"]
    assert "champ:r_auc" in lines[1].split()
    assert float(lines[2 + 4].split()[1]) == pytest.approx(ours["ROCAUC"], abs=5e-5)


def test_csv_replay_leaves_text_columns_out(tmp_path: Path) -> None:
    path = _phishing_csv_with_text(tmp_path / "phishing.csv")
    scorer = Scorer.from_specs(LR)
    *_, final = replay(scorer, scored_csv(scorer, path, TARGET), every=0)
    river = evaluate.progressive_val_score(datasets.Phishing(), build_pipeline(LR),
                                           metrics.ROCAUC())
    assert final.labels == 1250
    assert final.cumulative[CHAMPION]["ROCAUC"] == river.get()  # type: ignore[index]


class _Recorder(Scorer):
    """A real scorer that also notes the order of its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, float]] = []

    def score_one(self, lead_id: str, x: Features):  # type: ignore[no-untyped-def]
        self.calls.append(("score", x["i"]))
        return super().score_one(lead_id, x)

    def learn_one(self, x: Features, converted: bool) -> None:
        self.calls.append(("learn", x["i"]))
        super().learn_one(x, converted)


@pytest.mark.parametrize("delay", [0, 3, 100])
def test_labels_arrive_delay_leads_late_and_all_are_learned(delay: int) -> None:
    scorer = _Recorder()
    data = [(str(i), {"i": float(i)}, i % 3 == 0) for i in range(10)]
    progress = list(replay(scorer, scored_rows(scorer, data), delay=delay, every=4))
    scored_at = {i: n for n, (kind, i) in enumerate(scorer.calls) if kind == "score"}
    learned_at = {i: n for n, (kind, i) in enumerate(scorer.calls) if kind == "learn"}
    assert sorted(learned_at) == sorted(scored_at) == [float(i) for i in range(10)]
    for i in range(10):
        assert learned_at[i] > scored_at[i]
        k = max(delay, 1)  # River's simulate_qa: revealed just before lead i + delay arrives
        if i + k < 10:
            assert scored_at[i + k - 1] < learned_at[i] < scored_at[i + k]
    assert [p.labels for p in progress] == [4, 8, 10]


def test_a_challenger_is_reported_side_by_side() -> None:
    scorer = Scorer.from_specs(LR, "GaussianNB", challenger_share=0.5)
    rows = _phishing(400)
    *_, final = replay(scorer, scored_rows(scorer, rows), delay=10, every=200)
    assert set(final.arms) == {CHAMPION, CHALLENGER} and final.labels == 400
    assert final.arms[CHAMPION]["roc_auc"] != final.arms[CHALLENGER]["roc_auc"]
    lines = render(final, header=True).splitlines()
    assert "champ:auc" in lines[1] and "chall:auc" in lines[1] and lines[2].split()[0] == "400"


def test_generated_traffic_runs_through_ingest_with_the_oracle_alongside() -> None:
    scorer = Scorer.from_specs(LR)
    rows: list[Labelled] = []

    def keep(source: object) -> object:
        for row in source:  # type: ignore[attr-defined]
            rows.append(row)
            yield row

    *_, final = replay(scorer, keep(scored_traffic(scorer, 300, seed=4)), every=0)
    assert final.labels == 300 == scorer.champion.model.n_learned
    assert all(0.0 < row.oracle < 1.0 for row in rows)  # type: ignore[operator]
    assert {"has_phone", "log_price", "source_portal"} <= rows[0].features.keys()
    assert final.oracle_auc is not None and 0.6 < final.oracle_auc < 0.95
    assert final.served_auc is not None


@pytest.mark.parametrize(("text", "value"), [("1", True), ("0", False), ("TRUE", True),
                                             ("no", False), (" yes ", True), ("1.0", True)])
def test_targets_parse_as_booleans(text: str, value: bool) -> None:
    assert parse_target(text) is value


def test_bad_targets_and_missing_columns_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,y\n1,1\n2,maybe\n")
    with pytest.raises(ValueError, match="row 2: target 'maybe'"):
        list(csv_rows(path, "y"))
    with pytest.raises(ValueError, match="no column 'nope' \\(have a, y\\)"):
        list(csv_rows(path, "nope"))


def test_non_numeric_and_empty_cells_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c,y\n1.5,,abc,0\nnan,2,3,1\n")
    assert list(csv_rows(path, "y")) == [("1", {"a": 1.5}, False),
                                         ("2", {"b": 2.0, "c": 3.0}, True)]


def test_cli_evaluates_a_csv_with_delay(tmp_path: Path) -> None:
    path = _phishing_csv(tmp_path / "phishing.csv")
    result = CliRunner().invoke(main, ["evaluate", "--csv", str(path), "--target", TARGET,
                                       "--delay", "50", "--every", "500", "--model", LR])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:2] == ["labels", "champ:auc"]
    assert [line.split()[0] for line in lines[2:5]] == ["500", "1000", "1250"]
    assert float(lines[4].split()[1]) > 0.9  # phishing is easy
    assert lines[-1].startswith("champion importance")


def test_cli_plots_and_runs_the_hindsight_baseline(tmp_path: Path) -> None:
    path = _phishing_csv(tmp_path / "phishing.csv")
    png, out = tmp_path / "plots" / "eval.png", tmp_path / "r.json"
    result = CliRunner().invoke(main, ["evaluate", "--csv", str(path), "--target", TARGET,
                                       "--model", LR, "--baseline", "--last", "300",
                                       "--plot", str(png), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    report = json.loads(out.read_text())
    assert report["baseline"]["trained_on"] == 950 and report["baseline"]["tested_on"] == 300
    assert 0.9 < report["baseline"]["auc"] <= 1.0
    assert "baseline" in result.output and "HistGradientBoostingClassifier" in result.output


def test_cli_refuses_an_unknown_metric(tmp_path: Path) -> None:
    path = _phishing_csv(tmp_path / "phishing.csv")
    bad = CliRunner().invoke(main, ["evaluate", "--csv", str(path), "--target", TARGET,
                                    "--metric", "Nope"])
    assert bad.exit_code == 2 and "unknown River metric" in bad.output


def test_cli_refuses_a_csv_without_target_and_bad_specs(tmp_path: Path) -> None:
    path = _phishing_csv(tmp_path / "phishing.csv")
    assert CliRunner().invoke(main, ["evaluate", "--csv", str(path)]).exit_code == 2
    bad = CliRunner().invoke(main, ["evaluate", "--csv", str(path), "--target", TARGET,
                                    "--model", "Nope"])
    assert bad.exit_code == 2 and "unknown model step" in bad.output


def test_cli_generated_runs_with_a_fixed_start_repeat_exactly(tmp_path: Path) -> None:
    reports = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.json"
        result = CliRunner().invoke(main, ["evaluate", "--count", "400", "--delay", "20",
                                           "--every", "200", "--start", "2026-05-04",
                                           "--last", "200", "--json", str(out)])
        assert result.exit_code == 0, result.output
        reports.append(json.loads(out.read_text()))
    assert reports[0] == reports[1]
    assert reports[0]["last"]["auc"]["oracle"] is not None
