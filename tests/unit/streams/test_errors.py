"""Rejections kept as values let go of the frames they were raised in."""

from __future__ import annotations

import msgspec
import pytest

from schemas.raw import PortalInquiry
from streams.errors import BadJson, without_traceback
from streams.parse.decode import decode_event


def test_a_rejection_and_what_it_was_raised_from_keep_no_traceback() -> None:
    with pytest.raises(BadJson) as caught:
        decode_event(b"{not json", msgspec.json.Decoder(PortalInquiry), lambda obj: obj)
    exc = caught.value
    assert exc.__traceback__ is not None and exc.__context__ is not None
    assert without_traceback(exc) is exc
    assert exc.__traceback__ is None and exc.__context__.__traceback__ is None
    assert exc.reason == "bad_json" and exc.detail  # still says what and why
