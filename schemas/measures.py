"""The measure vocabulary of the journey map: how a declared measure becomes a typed, bounded field.

A channel's measures are declared in the map (`channels:` in schemas/journey_map.yaml) with a
name, a type from the small vocabulary below, an optional unit, range, allowed values, default and
description. Each type is one of the contract's annotated types (schemas.events), so a measure
declared in YAML validates, scrubs and exports exactly as one written in Python: `seconds` is
`Seconds`, `id` is `OpaqueId`, `text` is free text (scrubbed of e-mail addresses and phone
numbers at the edge), `code` is a `Name`. A declaration that cannot be built (unknown type, a
range with its ends swapped, values on a number...) is refused when the map loads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator
from pydantic.json_schema import JsonDict

from schemas.events import Name, OpaqueId

SECONDS_MAX = 365 * 86400  # as schemas.events.Seconds
MONEY_MAX = 10_000_000  # as schemas.events.Money
TEXT_RANGE = (1, 200)  # as schemas.events.ShortText
NUMERIC = ("seconds", "money", "integer", "number")
RANGED = (*NUMERIC, "text")
# type -> (Python type, range used when none is declared, unit implied)
MEASURE_TYPES: dict[str, tuple[Any, tuple[float, float] | None, str]] = {
    "seconds": (float, (0, SECONDS_MAX), "s"),
    "money": (float, (0, MONEY_MAX), ""),
    "integer": (int, None, ""),
    "number": (float, None, ""),
    "boolean": (bool, None, ""),
    "text": (str, TEXT_RANGE, ""),
    "id": (str, None, ""),
    "code": (str, None, ""),
    "choice": (str, None, ""),
}


class MeasureSpec(BaseModel):
    """One measure as the map declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    type: str
    unit: str = Field("", max_length=20, description="e.g. s, items, currency; `seconds` implies s.")
    range: tuple[float, float] | None = Field(None, description="[min, max], inclusive; for text, its length.")
    values: tuple[str, ...] | None = Field(None, description="The allowed values of a `choice`.")
    default: Any = None
    description: str = ""

    @model_validator(mode="after")
    def _buildable(self) -> MeasureSpec:
        if self.type not in MEASURE_TYPES:
            raise ValueError(f"unknown measure type {self.type!r} (known: {', '.join(MEASURE_TYPES)})")
        if self.range is not None:
            self._check_range(self.range)
        if (self.values is not None) != (self.type == "choice"):
            raise ValueError("`values` (the allowed values) goes with type choice, and choice needs it")
        if self.values is not None and (not self.values or len(set(self.values)) != len(self.values)):
            raise ValueError("values: must be a non-empty list without repeats")
        if self.default is not None:
            try:
                TypeAdapter(self.annotation()).validate_python(self.default)
            except ValidationError as err:
                raise ValueError(f"default {self.default!r} is not a valid {self.type}: "
                                 f"{err.errors()[0]['msg']}") from err
        return self

    def _check_range(self, bounds: tuple[float, float]) -> None:
        low, high = bounds
        if self.type not in RANGED:
            raise ValueError(f"range: a {self.type} measure has no range (only {', '.join(RANGED)})")
        if low > high:
            raise ValueError(f"range: [{low:g}, {high:g}] has its minimum above its maximum")
        if self.type in ("integer", "text") and (low != int(low) or high != int(high)):
            raise ValueError(f"range: a {self.type} range is whole numbers, not [{low:g}, {high:g}]")
        if self.type == "text" and low < 0:
            raise ValueError("range: a text length cannot be negative")

    @property
    def bounds(self) -> tuple[float, float] | None:
        return self.range if self.range is not None else MEASURE_TYPES[self.type][1]

    @property
    def effective_unit(self) -> str:
        return self.unit or MEASURE_TYPES[self.type][2]

    def annotation(self) -> Any:
        """The field's type, without None: the same annotated types the contract uses."""
        if self.type == "id":
            return OpaqueId
        if self.type == "code":
            return Name
        if self.type == "choice":
            return Literal[self.values]
        python_type, _, _ = MEASURE_TYPES[self.type]
        bounds = self.bounds
        if bounds is None:
            return python_type
        if self.type == "text":
            low, high = int(bounds[0]), int(bounds[1])
            return Annotated[str, StringConstraints(min_length=low or None, max_length=high)]
        if python_type is int:
            return Annotated[int, Field(ge=int(bounds[0]), le=int(bounds[1]))]
        return Annotated[python_type, Field(ge=bounds[0], le=bounds[1])]

    def field(self) -> tuple[Any, Any]:
        """(type, FieldInfo) for pydantic's create_model: optional unless the map gives a default."""
        extra: JsonDict | None = {"x-unit": self.effective_unit} if self.effective_unit else None
        description = self.description or None
        if self.default is not None:
            return self.annotation(), Field(self.default, description=description, json_schema_extra=extra)
        return self.annotation() | None, Field(None, description=description, json_schema_extra=extra)
