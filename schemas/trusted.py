"""Contract models built from values already known to be valid, without validating them again.

The worker rebuilds events and output records from its own compact state, and the simulator
builds the events it generates: both are trusted, and pydantic's validation (or even
`model_construct`, with its per-field default lookup) was among their costliest calls. Tests run
what they build through validation and compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, TypeVar, cast

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
IMMUTABLE_DEFAULTS = (type(None), str, int, float, bool, tuple)


def built(model: type[M], values: dict[str, Any], fields_set: Iterable[str] | None = None) -> M:
    """A model from valid values for every field (`fields_set`: the ones given explicitly; all by default)."""
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values if fields_set is None else fields_set))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


@cache
def defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of a model with its default (None where it has none)."""
    return {name: (None if f.is_required() else f.get_default(call_default_factory=True))
            for name, f in model.model_fields.items()}


def construct(model: type[M], values: dict[str, Any]) -> M:
    """`model.model_construct(**values)` at a fifth of its cost, for models without aliases whose
    omitted fields have constant defaults: one copy of the model's default values, updated."""
    template, required, factories = _templates.get(model) or _template(model)
    if not required <= values.keys():
        raise ValueError(f"{model.__name__} needs {sorted(required - values.keys())}")
    fields = template.copy()
    for name, factory in factories:
        if name not in values:
            fields[name] = factory()  # a fresh value each time: a shared one would leak between models
    fields.update(values)
    return built(model, fields, values)


Template = tuple[dict[str, Any], frozenset[str], tuple[tuple[str, Callable[[], Any]], ...]]


def _template(model: type[BaseModel]) -> Template:
    """The model's constant defaults, its required fields, and its fields made by a plain factory."""
    template: dict[str, Any] = {}
    required: set[str] = set()
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise TypeError(f"{model.__name__}.{name} has an alias: use model_construct")
        factory = info.default_factory
        if factory is not None and factory in PLAIN_FACTORIES:
            factories.append((name, cast(Callable[[], Any], factory)))
            template[name] = None
            continue
        constant = not info.is_required() and factory is None
        if constant and not isinstance(info.default, IMMUTABLE_DEFAULTS):
            raise TypeError(f"{model.__name__}.{name} has a mutable default: use model_construct")
        template[name] = info.default if constant else None
        if not constant:
            required.add(name)
    _templates[model] = (template, frozenset(required), tuple(factories))
    return _templates[model]


PLAIN_FACTORIES: frozenset[Any] = frozenset({dict, list})  # factories of empty containers, nothing else
_templates: dict[type[BaseModel], Template] = {}
