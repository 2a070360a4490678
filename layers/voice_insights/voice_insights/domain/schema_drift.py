"""Twilio's documented schema is checked, not enforced: an event that differs from it is stored all the same,
with its differences recorded, as long as it has what storing needs.

Twilio documents its schema but does not guarantee it; if every event started to differ in one field, rejecting
them would stop the table with no alarm. So an event is validated against the documented models first (the
fast path, what nearly every event takes). When that fails only on fields storing does not need (anything but
``models.REQUIRED_TO_STORE``), the values that failed are set aside and the event is validated again by a
lenient copy of the same models, where every other field may be missing; the failures become the event's
``violations`` (a flat attribute, a ``SchemaViolations`` metric by field and an alarm). The event's ``data`` is
stored as it came, so nothing is lost, and is read back the same way (``lenient_summary``).
"""

from __future__ import annotations

import copy
import types
from collections.abc import Hashable, Mapping, Sequence
from functools import cache
from typing import Any, NotRequired, TypedDict, Union, cast, get_args, get_origin, get_type_hints, is_typeddict

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model, with_config

from voice_insights.domain.models import REQUIRED_TO_STORE

MAX_ROUNDS = 3  # each round sets aside every value pydantic reported; a second round is rare


def field_name(location: Sequence[Any]) -> str:
    """``data.metrics.inbound.tags[]``: a location as a field name, list positions folded (bounded metric names)."""
    return ".".join("[]" if isinstance(part, int) else str(part) for part in location).replace(".[]", "[]")


def needed_to_store(location: Sequence[Any]) -> bool:
    """Whether a failure at ``location`` (in the envelope) touches what storing needs: then it rejects the event."""
    names = [part for part in location if isinstance(part, str)]
    if len(names) <= 1:
        return not names or names[0] in REQUIRED_TO_STORE["envelope"]
    return names[0] == "data" and len(names) == 2 and names[1] in REQUIRED_TO_STORE["data"]


def drift_only(errors: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every failure is on a field storing does not need (and each has a place to set aside)."""
    return bool(errors) and all(err["loc"] and not needed_to_store(err["loc"]) for err in errors)


def without(value: Any, locations: Sequence[Sequence[Any]]) -> Any:
    """A copy of ``value`` with what sits at each location taken out (list elements from the end first)."""
    result = copy.deepcopy(value)
    # Deepest and highest positions first, numbers compared as numbers: taking out a list element never shifts
    # one still to be taken out.
    for location in sorted(locations, key=_position_key, reverse=True):
        *path, last = location
        parent = result
        for part in path:
            parent = _child(parent, part)
            if parent is None:
                break
        if isinstance(parent, dict):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
            del parent[last]
    return result


def _position_key(location: Sequence[Any]) -> list[tuple[int, int | str]]:
    return [(0, part) if isinstance(part, int) else (1, str(part)) for part in location]


def validate_leniently(model: Any, value: Any, errors: Sequence[Mapping[str, Any]]) -> Any:
    """``value`` validated by the lenient copy of ``model`` once the values in ``errors`` are set aside;
    raises ValidationError when it still fails (then on something storing needs)."""
    lenient = lenient_type(model)
    for _ in range(MAX_ROUNDS):
        value = without(value, [err["loc"] for err in errors])
        try:
            return _validate(lenient, value)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if not drift_only(errors):
                raise
    return _validate(lenient, value)


def lenient_summary(model: type[BaseModel], data: Any) -> tuple[BaseModel, list[str]]:
    """A stored summary read back: validated as documented, else leniently; with its violations' field names."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if not drift_only([{**err, "loc": ("data", *err["loc"])} for err in errors]):
            raise
        return validate_leniently(model, data, errors), sorted({field_name(err["loc"]) for err in errors})


@cache
def lenient_type(annotation: Any) -> Any:
    """``annotation`` with every field optional but ``REQUIRED_TO_STORE``'s, through unions, lists and TypedDicts;
    lenient models subclass the documented ones, so code that reads an event reads either."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return Union[tuple(lenient_type(arg) for arg in get_args(annotation))]  # noqa: UP007 (built at run time)
    if origin is list:
        return list[lenient_type(get_args(annotation)[0])]  # type: ignore[misc]
    if is_typeddict(annotation):
        return _lenient_typeddict(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _lenient_model(annotation)
    return annotation


def _lenient_model(model: type[BaseModel]) -> type[BaseModel]:
    required = REQUIRED_TO_STORE["envelope" if "data" in model.model_fields else "data"]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = lenient_type(cast(Hashable, info.annotation))
        if name in required:
            fields[name] = (annotation, info)
        else:
            fields[name] = (annotation | None, Field(default=None, alias=info.alias))
    lenient: type[BaseModel] = create_model(f"Lenient{model.__name__}", __base__=model, **fields)
    return lenient


def _lenient_typeddict(typed_dict: Any) -> Any:
    hints = get_type_hints(typed_dict)
    fields = {name: NotRequired[lenient_type(tp)] for name, tp in hints.items()}
    lenient = TypedDict(f"Lenient{typed_dict.__name__}", fields)  # type: ignore[misc]  # built at run time
    return with_config(ConfigDict(extra="allow"))(lenient)


def _child(parent: Any, part: Any) -> Any:
    if isinstance(parent, dict):
        return parent.get(part)
    if isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
        return parent[part]
    return None


def _validate(model: Any, value: Any) -> Any:
    return _adapter(model).validate_python(value)


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)
