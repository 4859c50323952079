"""Run the API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.main import create_app
from infra.settings import Settings


def run_api(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info"
    )
