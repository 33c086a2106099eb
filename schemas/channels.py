"""The channel registry: the one place in the contract where a channel is declared.

Each channel names its event types and its typed measures. Adding a channel is one
`register_channel(...)` call here (or in your own module) plus its touchpoints and phase rules in
the journey-map file: see docs/adding-a-channel.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from schemas.events import Measures, Money, Name, OpaqueId, Seconds, ShortText, TouchpointEventBase

FEEDBACK = "feedback"  # accepted on every channel


class WebMeasures(Measures):
    """What a web beacon measures."""

    path: Annotated[str, Field(max_length=2000)] | None = Field(None, description="Page path, e.g. /products/kettle.")
    referrer: Annotated[str, Field(max_length=2000)] | None = None
    session_id: OpaqueId | None = None
    dwell_s: Seconds | None = Field(None, description="Seconds spent on the page.")
    navigation_ease: int | None = Field(None, ge=1, le=5, description="Survey: was navigation easy to follow, 1-5.")
    cart_value: Money | None = None
    checkout_step: int | None = Field(None, ge=1, le=20)
    order_id: OpaqueId | None = None
    order_amount: Money | None = None
    screen: ShortText | None = Field(None, description="App screen name, for screen_view events.")
    error_kind: Name | None = Field(None, description="What failed, e.g. http, javascript, payment, validation.")
    error_code: Annotated[str, Field(max_length=40)] | None = Field(None, description="e.g. 500, card_declined.")
    element: ShortText | None = Field(None, description="The declared element a click was on.")


class CallCentreMeasures(Measures):
    """A call-detail record."""

    queue: ShortText | None = None
    wait_s: Seconds | None = Field(None, description="Seconds waited before an agent answered.")
    handle_s: Seconds | None = Field(None, description="Seconds the agent spent on the call.")
    transfers: int | None = Field(None, ge=0, le=50, description="Times the call was transferred.")
    reason: Name | None = Field(None, description="Reason code, e.g. order_status, complaint.")
    resolved: bool | None = Field(None, description="Resolved on this contact (first-contact resolution).")
    team: ShortText | None = None
    ivr_s: Seconds | None = Field(None, description="Seconds spent in the IVR menu before a queue or hang-up.")


class EmailMeasures(Measures):
    """An e-mail provider event (outbound campaign or service mail, or an inbound message)."""

    direction: Literal["inbound", "outbound"] = "outbound"
    campaign: ShortText | None = None
    thread_id: OpaqueId | None = None
    response_s: Seconds | None = Field(None, description="Seconds between the customer's mail and this reply.")


class StoreMeasures(Measures):
    """A store visit, POS or service-desk record."""

    store_id: OpaqueId | None = None
    visit_s: Seconds | None = None
    queue_wait_s: Seconds | None = None
    purchase_amount: Money | None = None
    service_desk_request: Name | None = None
    is_return: bool | None = None
    return_reason: Name | None = Field(None, description="Why an item came back, e.g. damaged, wrong_size.")


@dataclass(frozen=True)
class Channel:
    """A registered channel: its name, event types, measures model and concrete event model."""

    name: str
    event_types: tuple[str, ...]
    measures: type[Measures]
    model: type[TouchpointEventBase]


_CHANNELS: dict[str, Channel] = {}
_adapter: TypeAdapter[Any] | None = None


def register_channel(name: str, event_types: tuple[str, ...], measures: type[Measures]) -> Channel:
    """Declare a channel: after this, events with `channel: name` validate against `measures`."""
    global _adapter
    types = tuple(dict.fromkeys((*event_types, FEEDBACK)))
    fields: dict[str, Any] = {
        "channel": (Literal[name], Field(description="Channel name.")),
        "event_type": (Literal[types], Field(description="What happened.")),
        "measures": (measures, Field(default_factory=measures, description=f"{name} measures.")),
    }
    model = create_model(
        f"{_camel(name)}Event",
        __base__=TouchpointEventBase,
        __doc__=f"A touchpoint event on the {name} channel.",
        **fields,
    )
    channel = Channel(name, types, measures, model)
    _CHANNELS[name] = channel
    _adapter = None
    return channel


def unregister_channel(name: str) -> None:
    """Forget a channel (for tests and plugins that register one temporarily)."""
    global _adapter
    _CHANNELS.pop(name, None)
    _adapter = None


def channels() -> dict[str, Channel]:
    """Registered channels by name."""
    return dict(_CHANNELS)


def event_adapter() -> TypeAdapter[Any]:
    """A validator for any registered channel's event, dispatching on `channel` in Rust."""
    global _adapter
    if _adapter is None:
        models = tuple(c.model for c in _CHANNELS.values())
        union: Any = models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="channel")]  # noqa: UP007
        _adapter = TypeAdapter(union)
    return _adapter


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


WEB = register_channel(
    "web",
    ("page_view", "search", "product_view", "compare", "login", "add_to_cart", "checkout_step",
     "checkout_abandoned", "order_placed", "help_view", "survey",
     # what web and app teams send besides page views (schema 1.1)
     "error", "back_step", "click", "chat_started", "chat_message", "wishlist_add", "review", "screen_view"),
    WebMeasures,
)
CALL_CENTRE = register_channel(
    "call_centre", ("call_answered", "call_abandoned", "callback", "ivr_abandoned"), CallCentreMeasures)
EMAIL = register_channel(
    "email",
    ("sent", "delivered", "opened", "clicked", "replied", "bounced", "unsubscribed", "received", "complaint"),
    EmailMeasures,
)
STORE = register_channel(
    "store", ("visit", "purchase", "service_desk", "return"), StoreMeasures)

# The concrete event models, for type hints and direct construction.
WebEvent = WEB.model
CallCentreEvent = CALL_CENTRE.model
EmailEvent = EMAIL.model
StoreEvent = STORE.model
TouchpointEvent = TouchpointEventBase
