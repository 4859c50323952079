"""Decoding batches of our own topics' values: a foreign value is logged with its origin and
skipped, never allowed to stop an agent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import faust
import msgspec

log = logging.getLogger(__name__)

DECODE_ERRORS: tuple[type[Exception], ...] = (msgspec.DecodeError, TypeError)


def origin(message: faust.types.Message) -> str:
    """`topic[partition]@offset`, the form every log line about a message uses."""
    return f"{message.topic}[{message.partition}]@{message.offset}"


def decode_all(
    events: Sequence[faust.EventT],
    decode: Callable[[bytes], Any],
    errors: tuple[type[Exception], ...] = DECODE_ERRORS,
) -> list[Any]:
    values = []
    for event in events:
        try:
            values.append(decode(event.value))
        except errors as exc:
            log.error("undecodable value at %s: %s", origin(event.message), exc)
    return values
