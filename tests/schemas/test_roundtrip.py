"""Property: every valid event serialises to JSON and parses back equal, on every channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.channels import channels, event_adapter
from schemas.events import Feedback, Identifiers

HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
# Printable ASCII without "@", "%" and "+": an id that looks like an address or a phone number is refused.
OPAQUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="@%+"), min_size=1, max_size=20)
NAME = st.from_regex(r"^[a-z][a-z0-9_]{0,10}(\.[a-z0-9_]{1,8})?$", fullmatch=True)
TIMES = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2030, 1, 1),
                     timezones=st.sampled_from([UTC]))

identifiers = st.builds(
    Identifiers, anonymous_id=st.none() | OPAQUE, email_hash=st.none() | HEX64,
    phone_hash=st.none() | HEX64, loyalty_id=st.none() | OPAQUE, crm_id=OPAQUE)
feedback = st.none() | st.builds(Feedback, csat=st.integers(1, 5), nps=st.none() | st.integers(0, 10),
                                 comment=st.none() | st.text(max_size=50), about_touchpoint=st.none() | NAME)


@st.composite
def events(draw: st.DrawFn) -> object:
    channel = draw(st.sampled_from(sorted(channels())))
    spec = channels()[channel]
    measures = draw(st.builds(spec.measures))
    event_time = draw(TIMES)
    fb = draw(feedback)
    event_type = "feedback" if fb is not None else draw(st.sampled_from([t for t in spec.event_types if t != "feedback"]))
    return spec.model(
        event_id=draw(st.uuids()).hex, event_time=event_time,
        received_time=event_time + timedelta(seconds=draw(st.integers(0, 10**6))),
        channel=channel, touchpoint=draw(NAME), event_type=event_type,
        identifiers=draw(identifiers), segment=draw(st.none() | NAME), feedback=fb, measures=measures)


@settings(max_examples=300, deadline=None)
@given(events())
def test_every_valid_event_round_trips(event: object) -> None:
    wire = event.model_dump_json()  # type: ignore[attr-defined]
    assert event_adapter().validate_json(wire) == event


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    from schemas.journeymap import load_journey_map
    from schemas.validation import Rejection, validate

    result = validate(raw, "fuzz", load_journey_map())
    assert isinstance(result, Rejection) and result.problems
