"""Typed dependencies: settings and clients live on `app.state`, built once at startup."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request

from infra.kafka.producer import LeadProducer
from infra.settings import Settings
from streams.parse.partner_mappings import PartnerRegistry


# All async: FastAPI runs a sync dependency in its thread pool, a hop per request.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_redis(request: Request) -> aioredis.Redis:
    return request.app.state.redis


async def get_producer(request: Request) -> LeadProducer:
    return request.app.state.producer


async def get_partners(request: Request) -> PartnerRegistry:
    return request.app.state.partners


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
ProducerDep = Annotated[LeadProducer, Depends(get_producer)]
PartnersDep = Annotated[PartnerRegistry, Depends(get_partners)]
