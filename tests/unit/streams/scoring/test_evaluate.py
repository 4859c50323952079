"""`aiqleads evaluate`: the scoring path replays labelled streams, exactly as River evaluates."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner
from river import datasets, evaluate, metrics, stream

from infra.cli import main
from streams.scoring.arms import CHALLENGER, CHAMPION, Scorer, default_metrics
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


@pytest.mark.parametrize("spec", [LR, "StandardScaler|LogisticRegression(lr=0.1)", "GaussianNB"])
def test_immediate_labels_give_rivers_progressive_validation_exactly(spec: str) -> None:
    prototypes = {"roc_auc_river": metrics.ROCAUC(), "log_loss_river": metrics.LogLoss(),
                  **default_metrics()}
    scorer = Scorer.from_specs(spec, metrics=prototypes)
    rows = _phishing(600)  # naive Bayes is slow in River: enough rows to tell models apart
    *_, final = replay(scorer, scored_rows(scorer, rows), every=0)
    assert final.labels == 600
    ours = final.arms[CHAMPION]
    for name, prototype in prototypes.items():
        # Exact equality: the same predictions, in the same order, into the same metric.
        river_rows = [(x, y) for _, x, y in rows]
        assert ours[name] == _river(river_rows, spec, prototype.clone()), name


def _phishing_csv(path: Path) -> Path:
    rows = list(datasets.Phishing())
    names = list(rows[0][0])
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names[:3], TARGET, *names[3:], "note"])
        for x, y in rows:
            values = [repr(x[n]) for n in names]
            writer.writerow([*values[:3], "true" if y else "false", *values[3:], "text"])
    return path


def test_csv_replay_equals_river_on_the_same_file(tmp_path: Path) -> None:
    path = _phishing_csv(tmp_path / "phishing.csv")
    scorer = Scorer.from_specs(LR, metrics={"auc": metrics.ROCAUC(), "ll": metrics.LogLoss()})
    *_, final = replay(scorer, scored_csv(scorer, path, TARGET), every=0)
    with path.open() as f:
        numeric = [n for n in next(csv.reader(f)) if n not in (TARGET, "note")]
    converters = {**dict.fromkeys(numeric, float), TARGET: lambda v: v == "true"}

    def river_rows() -> object:
        for x, y in stream.iter_csv(str(path), target=TARGET, converters=converters):
            yield {k: v for k, v in x.items() if k != "note"}, y

    assert final.labels == 1250
    assert final.arms[CHAMPION]["auc"] == _river(river_rows(), LR, metrics.ROCAUC())
    assert final.arms[CHAMPION]["ll"] == _river(river_rows(), LR, metrics.LogLoss())


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
        if i + delay + 1 < 10:  # learned right after lead i + delay arrived, not before
            assert scored_at[i + delay] < learned_at[i] < scored_at[i + delay + 1]
    assert [p.labels for p in progress] == [4, 8, 10]


def test_a_challenger_is_reported_side_by_side() -> None:
    scorer = Scorer.from_specs(LR, "GaussianNB", challenger_share=0.5)
    rows = _phishing(400)
    *_, final = replay(scorer, scored_rows(scorer, rows), delay=10, every=200)
    assert set(final.arms) == {CHAMPION, CHALLENGER} and final.labels == 400
    assert final.arms[CHAMPION]["roc_auc"] != final.arms[CHALLENGER]["roc_auc"]
    lines = render(final, header=True).splitlines()
    assert "champ:auc" in lines[0] and "chall:auc" in lines[0] and lines[1].split()[0] == "400"


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
    assert lines[0].split()[:2] == ["labels", "champ:auc"]
    assert [line.split()[0] for line in lines[1:4]] == ["500", "1000", "1250"]
    assert float(lines[3].split()[1]) > 0.9  # phishing is easy
    assert lines[-1].startswith("champion importance")


def test_cli_refuses_a_csv_without_target_and_bad_specs(tmp_path: Path) -> None:
    path = _phishing_csv(tmp_path / "phishing.csv")
    assert CliRunner().invoke(main, ["evaluate", "--csv", str(path)]).exit_code == 2
    bad = CliRunner().invoke(main, ["evaluate", "--csv", str(path), "--target", TARGET,
                                    "--model", "Nope"])
    assert bad.exit_code == 2 and "unknown model step" in bad.output
