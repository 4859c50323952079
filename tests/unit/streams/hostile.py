"""Hostile raw events: hypothesis strategies and hand-picked cases, all of them dead letters.

Every value here is one the pipeline must refuse: it must land in the DLQ with a reason and
its origin, and never stop the worker. `HAND_PICKED` are named cases (each a failing example
once, or a class of attack worth naming); the strategies draw the rest deterministically.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schemas.contract import PARTNER_HEADER, SOURCE_HEADER, SOURCES
from streams.traffic.generator import generate

FIVE_MB = 5 * 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    name: str
    source: str
    value: bytes | None
    headers: tuple[tuple[str, str], ...] = ()
    key: bytes | None = None


def _clean(source: str, seed: int) -> tuple[bytes, dict[str, str]]:
    event = generate(1, sources=(source,), seed=seed, malformed_share=0.0)[0]
    return event.value, dict(event.headers)


def _leaves(doc: object, replace: Callable[[object], object]) -> object:
    """`doc` with every leaf value replaced (keys kept): no required field survives."""
    if isinstance(doc, dict):
        return {k: _leaves(v, replace) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_leaves(v, replace) for v in doc] or [replace(None)]
    return replace(doc)


def _wrong_type(value: object) -> object:
    if isinstance(value, str):
        return [value, {"nested": value}]
    if isinstance(value, bool | int | float):
        return {"value": str(value)}
    return 12345


def _json_source(seed: int) -> str:
    return ("portal", "facebook", "crm")[seed % 3]


def hand_picked() -> list[Hostile]:
    cases: list[Hostile] = []
    for i, source in enumerate(SOURCES):
        value, headers = _clean(source, 9_000 + i)
        text = value.decode()
        cases += [
            Hostile(f"random-bytes-{source}", source, random.Random(i).randbytes(512)),
            Hostile(f"utf16-{source}", source, text.encode("utf-16"), tuple(headers.items())),
            Hostile(f"utf32-{source}", source, text.encode("utf-32"), tuple(headers.items())),
            Hostile(f"latin1-garbage-{source}", source, "é\x00ü\udcff".encode(
                "utf-8", "surrogateescape") + b"\xff\xfe\x00", tuple(headers.items())),
            Hostile(f"empty-{source}", source, b"", tuple(headers.items())),
            Hostile(f"tombstone-{source}", source, None, tuple(headers.items())),
            Hostile(f"5mb-{source}", source, b'{"x":"' + b"a" * FIVE_MB + b'"}',
                    tuple(headers.items())),
            Hostile(f"nested-10000-array-{source}", source, b"[" * 10_000 + b"]" * 10_000),
            Hostile(f"nested-10000-object-{source}", source,
                    b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
            Hostile(f"top-level-list-{source}", source, b"[1,2,3]"),
            Hostile(f"top-level-number-{source}", source, b"1e400"),
        ]
    for i in range(3):
        source = _json_source(i)
        value, headers = _clean(source, 9_100 + i)
        doc = json.loads(value)
        hdrs = tuple(headers.items())
        cases += [
            Hostile(f"wrong-types-{source}", source, json.dumps(_leaves(doc, _wrong_type))
                    .encode(), hdrs),
            Hostile(f"huge-numbers-{source}", source,
                    json.dumps(_leaves(doc, lambda _: 10**400)).encode(), hdrs),
            Hostile(f"float-overflow-{source}", source,
                    json.dumps(_leaves(doc, lambda _: 1e308)).replace("1e+308", "1e999")
                    .encode(), hdrs),
            Hostile(f"nan-{source}", source, json.dumps(_leaves(doc, lambda _: math.nan))
                    .encode(), hdrs),
            Hostile(f"infinity-{source}", source, json.dumps(_leaves(doc, lambda _: math.inf))
                    .encode(), hdrs),
            # Another source's document on this topic, claiming an unknown source.
            Hostile(f"unknown-source-on-{source}", source, _clean("webform", 9_200 + i)[0],
                    ((SOURCE_HEADER, "martian"),)),
        ]
    row, _ = _clean("partner", 9_300)
    cases += [
        Hostile("partner-missing-header", "partner", row),
        Hostile("partner-unknown-id", "partner", row, ((PARTNER_HEADER, "no-such-partner"),)),
        Hostile("partner-header-not-utf8", "partner", row, ((PARTNER_HEADER, "\udcff"),)),
    ]
    return cases


# JSON of any shape but a lead's: scalars, deep lists, objects with random keys.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
encodings = st.sampled_from(["utf-8", "utf-16", "utf-32", "cp1252", "shift_jis", "latin-1"])


@st.composite
def hostile_values(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=4096))
    if kind == "json":
        return json.dumps(draw(json_values), allow_nan=True).encode()
    return draw(st.text(max_size=300)).encode(draw(encodings), errors="replace")


@st.composite
def hostile_events(draw: st.DrawFn) -> Hostile:
    source = draw(st.sampled_from(SOURCES))
    headers = draw(st.lists(st.tuples(st.sampled_from([SOURCE_HEADER, PARTNER_HEADER,
                                                       "content-type", "x-forwarded-for"]),
                                      st.text(max_size=30)), max_size=3))
    return Hostile("hypothesis", source, draw(hostile_values()), tuple(headers))


def drawn(count: int) -> list[Hostile]:
    """`count` examples of `hostile_events`, the same ones on every run."""
    found: list[Hostile] = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(hostile_events())
    def collect(event: Hostile) -> None:
        found.append(event)

    collect()
    return found
