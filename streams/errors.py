"""The project's one exception root, and why an input could not become a lead.

`AIQLeadsError` is the root of every error this project raises on purpose (rejections,
configuration, checkpoints, adapters): `except AIQLeadsError` catches ours and nothing
else. Under it, `LeadRejected` has one subclass per reason code; every rejection carries
a stable `reason` code (used in the DLQ, metrics and `aiqleads dlq`) and a human `detail`.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class AIQLeadsError(Exception):
    """Root of every error the project raises on purpose."""


class LeadRejected(AIQLeadsError):
    """Root of every reason an input event goes to the dead-letter topic."""

    reason: str = "rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadEncoding(LeadRejected):
    reason = "bad_encoding"


class BadJson(LeadRejected):
    reason = "bad_json"


class BadShape(LeadRejected):
    """Valid JSON, but not the source's shape (missing id, wrong types)."""

    reason = "bad_shape"


class Oversize(LeadRejected):
    reason = "oversize"


class UnknownSource(LeadRejected):
    reason = "unknown_source"


class UnknownPartner(LeadRejected):
    """A partner CSV row whose `x-partner-id` header is missing or names no known partner."""

    reason = "unknown_partner"


class MissingContact(LeadRejected):
    reason = "missing_contact"


class BadEmail(LeadRejected):
    reason = "bad_email"


class BadPhone(LeadRejected):
    reason = "bad_phone"


class BadTimestamp(LeadRejected):
    reason = "bad_timestamp"


class TooOld(LeadRejected):
    reason = "too_old"


class InFuture(LeadRejected):
    reason = "in_future"


class OutOfArea(LeadRejected):
    reason = "out_of_area"


class BadValue(LeadRejected):
    """A field present but impossible (negative price, 80 bedrooms)."""

    reason = "bad_value"


#: Anything our own code raised that is not a `LeadRejected`: still never lost.
INTERNAL_ERROR = "internal_error"

REASON_CODES: tuple[str, ...] = (
    *(cls.reason for cls in LeadRejected.__subclasses__()),
    INTERNAL_ERROR,
)


def without_traceback(exc: E) -> E:
    """`exc`, and every exception it was raised from, stripped of their tracebacks.

    Keep this for an exception kept as a value (a rejection is data, not a fault). A kept
    traceback holds each frame it passed through, each frame its caller (`f_back`), and
    their locals: a whole batch, in a reference cycle (the frame that caught it holds the
    exception) that only the garbage collector frees, in pauses that grow with what it
    holds (BENCHMARKS.md, 2026-12-07 14:00).
    """
    seen: set[int] = set()
    chain: list[BaseException | None] = [exc]
    while chain:
        link = chain.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        link.__traceback__ = None
        chain += (link.__cause__, link.__context__)
    return exc
