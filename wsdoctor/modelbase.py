"""The base of wsdoctor's data models: frozen, keyword-only dataclasses with the part of
pydantic's model API the code uses (``model_copy``, ``model_dump``, ``model_dump_json``,
``model_validate``, ``model_json_schema``).

A run builds its models from typed values and writes them itself, so it never imports pydantic
(~55 ms) nor builds a validator (~5 ms each): pydantic is imported only where outside data is
read (a saved report, the exporter's file) or the JSON Schema is written, and it validates
these same classes as dataclasses, with the constraints and descriptions :func:`Field` records
in each field's metadata (issue 13). Direct construction checks those constraints too.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import enum
import functools
import inspect
import json
import math
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from wsdoctor.records import build

if TYPE_CHECKING:
    from typing import Self

    from pydantic import GetCoreSchemaHandler, TypeAdapter
    from pydantic_core import CoreSchema
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: object) -> Callable[[type], type]:
        return lambda cls: cls

#: The constraints :func:`Field` takes, checked on construction and handed to pydantic.
_CONSTRAINTS = ("gt", "ge", "lt", "le", "allow_inf_nan")

MISSING: Any = dataclasses.MISSING

#: Field types (as written, under ``from __future__ import annotations``) whose int values are
#: stored as floats, as pydantic stores them: so a dump writes ``120.0`` whoever built it.
_FLOAT_TYPES = frozenset({float, "float", "float | None", "Seconds", "Seconds | None"})
_FLOAT_LISTS = frozenset({"list[float]"})


def Field(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    description: str | None = None,
    exclude: bool = False,
    repr: bool = True,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    allow_inf_nan: bool | None = None,
) -> Any:
    """A model field: its default and, as metadata, what pydantic's ``Field`` would take
    (pydantic reads a dataclass field's metadata as ``Field`` arguments)."""
    given = {"description": description, "exclude": exclude or None, "gt": gt, "ge": ge,
             "lt": lt, "le": le, "allow_inf_nan": allow_inf_nan}
    metadata = {k: v for k, v in given.items() if v is not None}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, repr=repr, metadata=metadata)
    return dataclasses.field(default=default, repr=repr, metadata=metadata)


def _check(name: str, value: object, limits: dict[str, Any]) -> None:
    """Raise ValueError (in pydantic's words) when ``value`` breaks a constraint."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and limits.get("allow_inf_nan") is False \
            and not math.isfinite(value):
        raise ValueError(f"{name}: Input should be a finite number")
    for key, word, ok in (("gt", "greater than", float.__gt__), ("ge", "greater than or equal "
                          "to", float.__ge__), ("lt", "less than", float.__lt__),
                          ("le", "less than or equal to", float.__le__)):
        if key in limits and not ok(float(value), float(limits[key])):
            raise ValueError(f"{name}: Input should be {word} {limits[key]}")


class FieldError(ValueError):
    """A field's value refused by a model's own check (``__post_init__``): reads as
    ``field: reason``, and keeps both, so whoever validated outside data can point at the key
    (pydantic reports such an error at the model, not at the field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(Field,))
class Model:
    """Base of every wsdoctor data model: immutable, keyword-only, no unknown fields."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    _constrained: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = ()
    _dumped: ClassVar[tuple[str, ...]] = ()
    _floats: ClassVar[tuple[str, ...]] = ()
    _float_lists: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = inspect.get_annotations(cls)
        for name, value in list(vars(cls).items()):  # mutable defaults, as pydantic allows
            if name in own and isinstance(value, list | dict | set):
                setattr(cls, name, dataclasses.field(
                    default_factory=functools.partial(copy.copy, value)))
        # A dataclass to pydantic, dataclasses.fields() and replace(), with the records'
        # generic methods: generating them per class (exec) costs ~0.6 ms a class.
        build(cls, frozen=True, kw_only=True)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        cls._constrained = tuple(
            (f.name, {k: f.metadata[k] for k in _CONSTRAINTS if k in f.metadata})
            for f in fields if any(k in f.metadata for k in _CONSTRAINTS))
        cls._dumped = tuple(f.name for f in fields if not f.metadata.get("exclude"))
        cls._floats = tuple(f.name for f in fields if f.type in _FLOAT_TYPES)
        cls._float_lists = tuple(f.name for f in fields if f.type in _FLOAT_LISTS)

    def __post_init__(self) -> None:
        state = self.__dict__
        for name in self._floats:  # an int given for a float is the float (as pydantic has it)
            if type(state[name]) is int:
                state[name] = float(state[name])
        for name in self._float_lists:
            if any(type(v) is int for v in state[name]):
                state[name] = [float(v) for v in state[name]]
        for name, limits in self._constrained:
            _check(name, getattr(self, name), limits)

    def _set(self, name: str, value: object) -> None:
        """Replace a field's value while it is built (``__post_init__``'s normalising)."""
        object.__setattr__(self, name, value)

    def _normalise(self, name: str, fn: Callable[[Any], object]) -> None:
        """Replace a field's value by ``fn(value)`` (a validator, run in ``__post_init__``);
        its ValueError names the field, as pydantic's would."""
        try:
            self._set(name, fn(getattr(self, name)))
        except ValueError as exc:
            raise FieldError(name, str(exc)) from None

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with ``update`` applied (checked as on construction)."""
        return dataclasses.replace(self, **update) if update else copy.copy(self)  # type: ignore[type-var]

    def model_dump(self, *, mode: Literal["python", "json"] = "python",
                   exclude: Iterable[str] = ()) -> dict[str, Any]:
        """The fields as a dict (nested models too), excluded fields left out; ``json``
        mode gives only JSON types."""
        convert = to_json_value if mode == "json" else _to_python
        skip = set(exclude)
        return {name: convert(getattr(self, name)) for name in self._dumped if name not in skip}

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The JSON text of :meth:`model_dump` (UTF-8 text, not ASCII escapes, as pydantic)."""
        return dumps(self, indent=indent)

    @classmethod
    def model_validate(cls, data: object) -> Self:
        """Validate outside data (a dict from JSON or YAML) into this model, with pydantic."""
        return adapter(cls).validate_python(data)  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        """Validate JSON text into this model, with pydantic."""
        return adapter(cls).validate_json(data)  # type: ignore[no-any-return]

    @classmethod
    def model_json_schema(cls, mode: Literal["validation", "serialization"] = "validation"
                          ) -> dict[str, Any]:
        """The JSON Schema of this model, by pydantic."""
        return adapter(cls).json_schema(mode=mode)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def adapter(cls: type) -> TypeAdapter[Any]:
    """pydantic's validator and schema of a model class (built once, on first need)."""
    if cls not in _ADAPTERS:
        from pydantic import TypeAdapter

        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


class Secret:
    """A secret text (pydantic's ``SecretStr``, without pydantic): never shown by ``repr``,
    ``str`` or a dump; :meth:`get_secret_value` gives it to whoever must send it."""

    __slots__ = ("_value",)
    SHOWN: ClassVar[str] = "**********"

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{self.SHOWN}')"

    def __str__(self) -> str:
        return self.SHOWN

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: object,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            lambda v: v if isinstance(v, Secret) else Secret(v),
            core_schema.union_schema([core_schema.is_instance_schema(Secret),
                                      core_schema.str_schema()]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: cls.SHOWN, when_used="json"))


def _datetime(value: datetime.datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def to_json_value(value: Any) -> Any:
    """``value`` as JSON types, as pydantic dumps them in JSON mode (enums as their values,
    tuples and sets as lists, datetimes in ISO 8601 with ``Z``, non-finite floats as null)."""
    if value is None or type(value) in (str, int, bool):
        return value
    if isinstance(value, Model):
        return {name: to_json_value(getattr(value, name)) for name in value._dumped}
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int):
        return str(value) if isinstance(value, str) else int(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(to_json_value(k)): to_json_value(v) for k, v in value.items()}
    if isinstance(value, datetime.datetime):
        return _datetime(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Secret):
        return Secret.SHOWN
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _to_python(value: Any) -> Any:
    """pydantic's python-mode dump: nested models become dicts, everything else stays."""
    if isinstance(value, Model):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return type(value)(_to_python(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """The JSON text of a model (or of a value holding models), formatted as pydantic's
    ``model_dump_json``: compact without ``indent``."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(to_json_value(value), indent=indent, ensure_ascii=False,
                      separators=separators)
