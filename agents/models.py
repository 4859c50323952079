"""The worker's scorer: versioned checkpoints, promotion rule, metrics and the `/models` views.

- Checkpoints live in ``{state_dir}/models``: ``{prefix}scorer-{seq:08d}.pkl`` (the newest
  `KEEP_CHECKPOINTS` are kept) and ``{prefix}scorer.current`` naming the one to load. A
  file is written whole and renamed, the pointer last, so a crash never leaves a torn or
  dangling checkpoint (`infra.checkpoints`: checksummed, fsynced). Written every
  `settings.checkpoint_seconds` when the scorer learned or changed, at shutdown, and at once
  after a promotion or rollback.
- `load_scorer(settings)`: the current checkpoint (else the newest readable one, else a
  pre-scorer ``{prefix}champion.pkl`` model as champion, else fresh models), reconciled
  with settings: an arm whose configured spec changed is rebuilt cold; the challenger
  share and reason codes always come from settings.
- `register(app, settings, scorer)`: the checkpoint timer, the auto-promotion rule
  (`promote_min_labels`, `promote_auc_margin`; 0 labels = off) every
  `PROMOTE_CHECK_SECONDS`, per-arm Prometheus gauges every `METRICS_SECONDS`, and the
  views ``GET /models`` (status), ``POST /models/promote``, ``POST /models/rollback``
  (409 with a sentence when there is nothing to do).
- `change_offline(settings, action)`: promote/rollback on the checkpoint itself, for
  `aiqleads model` when no worker is running; the next start loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View

from infra.checkpoints import CheckpointFile, CheckpointWriteError, VersionedCheckpoints
from infra.metrics import (
    FEATURE_IMPORTANCE,
    MODEL_CHANGES,
    MODEL_CHECKPOINTS,
    MODEL_LABELS,
    MODEL_ONLINE_METRIC,
)
from infra.settings import Settings
from streams.scoring.arms import Scorer, ScorerError
from streams.scoring.model import ConversionModel

log = logging.getLogger(__name__)

REBALANCE_CHECK_SECONDS = 0.5
PROMOTE_CHECK_SECONDS = 60.0
METRICS_SECONDS = 5.0
KEEP_CHECKPOINTS = 5
VIEW = "/models"
ACTIONS = ("promote", "rollback")
_LEGACY_MODEL = "champion"


@dataclass(frozen=True)
class ScorerCheckpoints:
    """Versioned scorer checkpoints in one directory, under one topic prefix."""

    directory: Path
    prefix: str = ""
    keep: int = KEEP_CHECKPOINTS

    @classmethod
    def of(cls, settings: Settings) -> ScorerCheckpoints:
        return cls(settings.state_dir / "models", settings.topic_prefix)

    @property
    def _files(self) -> VersionedCheckpoints:
        return VersionedCheckpoints(self.directory, "scorer", self.prefix, self.keep)

    def versions(self) -> list[Path]:
        return self._files.versions()

    def current(self) -> Path | None:
        return self._files.current()

    def save(self, scorer: Scorer) -> Path:
        path = self._files.save(scorer.dumps())
        MODEL_CHECKPOINTS.inc()
        return path

    def load(self) -> tuple[Scorer, Path] | None:
        """The current checkpoint, else the newest one that reads; None when there is none."""
        return self._files.load(Scorer.loads)

    def describe(self) -> dict[str, Any]:
        return self._files.describe()


def fresh_scorer(settings: Settings, champion: ConversionModel | None = None) -> Scorer:
    champion = champion or ConversionModel(spec=settings.model_spec, seed=settings.model_seed,
                                           name="m1")
    challenger = (ConversionModel(spec=settings.challenger_spec, seed=settings.model_seed,
                                  name="m2") if settings.challenger_spec else None)
    return Scorer(champion, challenger, challenger_share=settings.challenger_share,
                  reason_codes=settings.reason_codes)


def load_scorer(settings: Settings) -> Scorer:
    """The scorer to serve with: restored if there is a checkpoint, then fitted to settings."""
    checkpoints = ScorerCheckpoints.of(settings)
    restored = checkpoints.load()
    if restored is not None:
        scorer, path = restored
        log.info("restored scorer from %s: champion %s", path.name, scorer.champion.model.version)
    else:
        scorer = fresh_scorer(settings, _legacy_champion(settings))
    for change in scorer.reconcile(settings.model_spec, settings.challenger_spec or None,
                                   settings.model_seed):
        log.warning("model settings changed: %s (that arm starts cold)", change)
    scorer.configure(challenger_share=settings.challenger_share,
                     reason_codes=settings.reason_codes)
    return scorer


def _legacy_champion(settings: Settings) -> ConversionModel | None:
    """The single model a worker from before champion/challenger checkpointed, if it fits."""
    path = settings.state_dir / "models" / f"{settings.topic_prefix}{_LEGACY_MODEL}.pkl"
    model = CheckpointFile(path).load(ConversionModel.loads)
    if model is None:
        return None
    if model.spec != settings.model_spec:
        return None
    log.info("resuming legacy model checkpoint %s as champion", path.name)
    return model


def apply(scorer: Scorer, action: str, trigger: str = "manual") -> None:
    """Promote or roll back; raises `ScorerError` when there is nothing to do."""
    if action == "promote":
        scorer.promote(trigger)
    elif action == "rollback":
        scorer.rollback(trigger)
    else:
        raise ValueError(f"unknown model action {action!r}")
    MODEL_CHANGES.labels(action, trigger).inc()
    log.warning("model %s (%s): champion is now %s", action, trigger,
                scorer.champion.model.version)


def status(scorer: Scorer, checkpoints: ScorerCheckpoints, live: bool = True) -> dict[str, Any]:
    """The scorer's status; its last hour ends now (`live`) or at its last label (a checkpoint)."""
    now_ms = int(time.time() * 1000) if live else None
    return {**scorer.status(now_ms=now_ms), "checkpoint": checkpoints.describe()}


def change_offline(settings: Settings, action: str) -> dict[str, Any]:
    """Promote/roll back the checkpointed scorer of a stopped worker; the new status."""
    checkpoints = ScorerCheckpoints.of(settings)
    restored = checkpoints.load()
    if restored is None:
        raise ScorerError(f"no scorer checkpoint in {checkpoints.directory}")
    scorer, _ = restored
    apply(scorer, action)
    checkpoints.save(scorer)
    return status(scorer, checkpoints)


def offline_status(settings: Settings) -> dict[str, Any] | None:
    checkpoints = ScorerCheckpoints.of(settings)
    restored = checkpoints.load()
    return None if restored is None else status(restored[0], checkpoints, live=False)


def publish_metrics(scorer: Scorer) -> None:
    for arm_name, arm in scorer.arms.items():
        MODEL_LABELS.labels(arm_name).set(arm.model.n_learned)
        for metric, value in arm.status()["metrics"].items():
            if value is not None:
                MODEL_ONLINE_METRIC.labels(arm_name, metric).set(value)
        for feature, value in arm.importance.get().items():
            FEATURE_IMPORTANCE.labels(arm_name, feature).set(value)


def _fingerprint(scorer: Scorer) -> tuple[str, ...]:
    # Versions carry model name and labels learned: any learning or swap changes this.
    return tuple(f"{name}={arm.model.version}" for name, arm in scorer.arms.items())


def register(app: faust.App, settings: Settings, scorer: Scorer,
             on_saved: Callable[[], object] | None = None,
             pending: Callable[[], bool] | None = None) -> ScorerCheckpoints:
    """Timers and views for `scorer`; the caller registers the agents that use it.

    `on_saved` runs right after each checkpoint, in the same event-loop step: what the
    agents learned until then is in the file (`agents.lessons` acks their messages).
    `pending()` says messages wait for a checkpoint: during a rebalance one is written at
    once, since Faust waits for every message to be acked before it hands partitions on."""
    checkpoints = ScorerCheckpoints.of(settings)
    saved: list[tuple[str, ...]] = [()]

    def checkpoint(force: bool = False) -> None:
        fingerprint = _fingerprint(scorer)
        if force or fingerprint != saved[0]:
            checkpoints.save(scorer)
            saved[0] = fingerprint
        if on_saved is not None:
            on_saved()

    def change(action: str, trigger: str) -> None:
        apply(scorer, action, trigger)
        checkpoint(force=True)  # a promotion must survive a crash right after it

    def checkpoint_or_log() -> None:
        # A full or read-only state dir must not stop the worker: it keeps serving on the
        # last good checkpoint, holds the unsaved lessons unacked and says so (/readyz).
        try:
            checkpoint()
        except CheckpointWriteError as exc:
            log.error("%s", exc)

    @app.timer(settings.checkpoint_seconds, name="checkpoint_scorer")
    async def checkpoint_scorer() -> None:
        checkpoint_or_log()

    @app.on_before_shutdown.connect
    def final_checkpoint(app: faust.App, **_: object) -> None:
        checkpoint_or_log()

    @app.timer(REBALANCE_CHECK_SECONDS, name="checkpoint_when_rebalancing")
    async def checkpoint_when_rebalancing() -> None:
        if pending is not None and app.rebalancing and pending():
            checkpoint_or_log()

    @app.timer(PROMOTE_CHECK_SECONDS, name="promote_challenger")
    async def promote_challenger() -> None:
        if scorer.maybe_promote(settings.promote_min_labels, settings.promote_auc_margin):
            MODEL_CHANGES.labels("promote", "auto").inc()
            log.warning("challenger promoted automatically: champion is now %s",
                        scorer.champion.model.version)
            checkpoint(force=True)

    @app.timer(METRICS_SECONDS, name="publish_model_metrics")
    async def publish_model_metrics() -> None:
        publish_metrics(scorer)

    @app.page(VIEW)
    class Models(View):
        async def get(self, request: Request) -> Response:
            return self.json(status(scorer, checkpoints))

    def action_view(action: str) -> type[View]:
        class Change(View):
            async def post(self, request: Request) -> Response:
                try:
                    change(action, "manual")
                except ScorerError as exc:
                    return self.json({"error": str(exc)}, status=409)
                return self.json(status(scorer, checkpoints))

        return Change

    for action in ACTIONS:
        app.page(f"{VIEW}/{action}", name=f"models_{action}")(action_view(action))
    return checkpoints
