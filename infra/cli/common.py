"""What every command group shares: the settings read once, and common options."""

from __future__ import annotations

import click

from infra.settings import Settings


def settings() -> Settings:
    """The settings, read from `AIQ_*` at the command's start (never at import)."""
    return Settings()


FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table"
)
