"""The contract's privacy at the edge for free text: e-mail addresses and phone numbers become markers.

Identifiers are hashed before Kafka sees them (schemas.pii), but a sender can still carry a raw
address in free text: a web path with `?email=...`, a referrer, a customer's comment, a queue
or campaign name. Validation (schemas.validation) therefore scrubs every free-text field of an
event it accepts, so the collector, the importer and the worker's intake all publish the same
scrubbed event. Free text is any string measure that accepts arbitrary text (no pattern: ids and
names keep their values, since they identify) and the feedback comment. The patterns and their
markers come from the journey map (`pii_scrubbing`), compiled once per map; a pattern's hints
(substrings one of which every match contains) skip its search on most text, so an event without
PII costs about one regular-expression search per free-text value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

from schemas.events import TouchpointEventBase

E = TypeVar("E", bound=TouchpointEventBase)

# An address, also URL-encoded (`%40`) as it appears in query strings, or with a full-width `＠`. The
# local part takes the characters RFC 5322 allows except the URL delimiters (`/`, `=`, `?`, `&`), so a
# path keeps its shape; letters are Unicode letters (josé@exämple.рф). Every part is bounded (64
# characters before the `@`, labels of 63, at most 127 labels as in DNS) and an address starts where a run of address
# characters starts: unbounded, a 64 KB run of letters or of `%40` cost a search a minute (each
# start position scanned to the end), on the collector's event loop.
EMAIL_PATTERN = r"(?<![\w.%+\-!#$'*^`{|}~])[\w.%+\-!#$'*^`{|}~]{0,64}(?:@|%40|\uff20)[\w\-]{1,63}(?:\.[\w\-]{1,63}){0,126}\.[^\W\d_][\w\-]{1,62}"
# An international number: `+` (or `%2B`) and 8 to 15 digits, separators allowed.
INTERNATIONAL_PHONE_PATTERN = r"(?:\+|%2[Bb])\d(?:[ \-.()/]{0,2}\d){7,14}(?!\d)"
# A national number written in groups ("020 7946 0958", "(555) 123-4567"). A bare run of digits is
# left alone: in paths and names it is far more often an order or product number.
GROUPED_PHONE_PATTERN = r"(?<![\w.\-])\(?\d{2,5}\)?[ \-.]\d{3,4}[ \-.]\d{3,5}(?![\w.])"
# A national number with its trunk prefix in two groups, as call-centre exports write them ("07700 900123").
TRUNK_PHONE_PATTERN = r"(?<![\w.\-/])0\d{2,4}[ \-.]\d{5,8}(?![\w.])"


@dataclass(frozen=True)
class Rule:
    """Text matching `pattern` becomes `marker`; with `hints`, only text containing one is searched
    (a substring test costs a tenth of a regular-expression search, and most text has none)."""

    pattern: re.Pattern[str]
    marker: str
    hints: tuple[str, ...] = ()

    def apply(self, text: str) -> str:
        if self.hints and not any(hint in text for hint in self.hints):
            return text
        return self.pattern.sub(self.marker, text)


@dataclass(frozen=True)
class Scrubber:
    """Rules applied in order; `scrub` returns clean text unchanged."""

    rules: tuple[Rule, ...]

    @classmethod
    def of(cls, patterns: tuple[tuple[str, str, tuple[str, ...]], ...]) -> Scrubber:
        """From (regular expression, marker, hints) triples; an invalid expression raises re.error."""
        return cls(tuple(Rule(re.compile(pattern), marker, hints) for pattern, marker, hints in patterns))

    def scrub(self, text: str) -> str:
        for rule in self.rules:  # Rule.apply, inlined: this runs for every free-text value
            hints = rule.hints
            if hints:
                for hint in hints:
                    if hint in text:
                        break
                else:
                    continue
            text = rule.pattern.sub(rule.marker, text)
        return text


DEFAULT_PATTERNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (EMAIL_PATTERN, "[email]", ("@", "%40", "\uff20")),
    (INTERNATIONAL_PHONE_PATTERN, "[phone]", ("+", "%2B", "%2b")),
    (GROUPED_PHONE_PATTERN, "[phone]", ()),
    (TRUNK_PHONE_PATTERN, "[phone]", ()),
)


@cache
def default_scrubber() -> Scrubber:
    return Scrubber.of(DEFAULT_PATTERNS)


@cache
def free_text_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a measures model that take arbitrary text (strings without a pattern)."""
    return tuple(name for name, info in model.model_fields.items() if _is_free_text(info.annotation, info.metadata))


def _is_free_text(annotation: Any, metadata: list[Any]) -> bool:
    if annotation is str:
        return not any(getattr(m, "pattern", None) for m in metadata)
    args = getattr(annotation, "__args__", ())
    metas = getattr(annotation, "__metadata__", ())
    if metas:  # Annotated[str, ...]: look inside
        return _is_free_text(getattr(annotation, "__origin__", None), [*metadata, *metas])
    return any(_is_free_text(arg, metadata) for arg in args if arg is not type(None))


def scrubbed(event: E, scrubber: Scrubber) -> E:
    """The event with its free text scrubbed (the same object when there was nothing to replace)."""
    update: dict[str, Any] = {}
    measures: BaseModel | None = getattr(event, "measures", None)
    if measures is not None:
        changes = {name: clean for name in free_text_fields(type(measures))
                   if (value := getattr(measures, name)) and (clean := scrubber.scrub(value)) != value}
        if changes:
            update["measures"] = measures.model_copy(update=changes)
    feedback = event.feedback
    if feedback is not None and feedback.comment and (comment := scrubber.scrub(feedback.comment)) != feedback.comment:
        update["feedback"] = feedback.model_copy(update={"comment": comment})
    context = getattr(event, "context", None)  # dimension values are the sender's text too (a campaign name...)
    if context:
        clean_context = {name: scrubber.scrub(value) for name, value in context.items()}
        if clean_context != context:
            update["context"] = clean_context
    return event.model_copy(update=update) if update else event
