"""`aiqleads evaluate --plot FILE.png`: the reliability diagram and the learning curves."""

from __future__ import annotations

from pathlib import Path

from streams.scoring.evaluate import Replay

RELIABILITY_GROUPS = 15


def evaluation_plot(path: Path, record: Replay, title: str) -> Path:
    """Three panels: reliability (raw vs calibrated, per arm), AUC and log loss over labels."""
    cumulative = record.cumulative
    if cumulative is None:
        raise ValueError("nothing replayed to plot")
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a worker or in CI
    import matplotlib.pyplot as plt

    fig, (rel, auc, loss) = plt.subplots(1, 3, figsize=(16, 5))
    rel.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    colours = {"champion": "tab:blue", "challenger": "tab:orange"}
    top = 0.0
    for arm in cumulative.river:
        colour = colours.get(arm)
        for kind, style in (("raw", "--"), ("calibrated", "-")):
            points = record.reliability(arm, kind, RELIABILITY_GROUPS)
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            top = max(top, *xs, *ys)
            ece = cumulative.get()[arm]["ece" if kind == "calibrated" else "ece_raw"]
            rel.plot(xs, ys, style, marker="o", color=colour,
                     label=f"{arm} {kind} (ECE {ece:.4f})" if ece is not None else arm)
    rel.set(xlabel="predicted probability (group mean)", ylabel="observed conversion rate",
            title=f"Reliability, every label ({RELIABILITY_GROUPS} equal-count groups)")
    edge = min(1.0, max(0.05, top * 1.1))
    rel.set_xlim(0, edge)
    rel.set_ylim(0, edge)
    rel.legend(fontsize=8)

    labels = [p.labels for p in record.curve]
    for arm in cumulative.river:
        colour = colours.get(arm)
        auc.plot(labels, [(p.cumulative or {}).get(arm, {}).get("ROCAUC") for p in record.curve],
                 color=colour, label=f"{arm} cumulative (River ROCAUC)")
        auc.plot(labels, [p.arms.get(arm, {}).get("roc_auc") for p in record.curve], "--",
                 color=colour, label=f"{arm} rolling")
        loss.plot(labels, [(p.cumulative or {}).get(arm, {}).get("LogLoss")
                           for p in record.curve], color=colour, label=f"{arm} raw (cumulative)")
        loss.plot(labels, [(p.cumulative or {}).get(arm, {}).get("log_loss_cal")
                           for p in record.curve], "--", color=colour,
                  label=f"{arm} calibrated (cumulative)")
    if any(p.oracle_auc is not None for p in record.curve):
        auc.plot(labels, [p.oracle_auc for p in record.curve], ":", color="black",
                 label="oracle (rolling)")
    auc.set(xlabel="labels", ylabel="ROC AUC", title="ROC AUC over labels")
    auc.legend(fontsize=8)
    loss.set(xlabel="labels", ylabel="log loss", title="Log loss over labels")
    loss.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
