"""``dataclass`` as the standard library's, for plain records, without its start-up cost.

Python 3.11's ``dataclasses.dataclass`` writes ``__init__``, ``__repr__``, ``__eq__``,
``__hash__`` and, when frozen, ``__setattr__``/``__delattr__`` as source text and ``exec``s
each: ~0.5 ms a class, ~20 ms for the records a diagnosis imports (issue 13). This decorator
lets the standard one collect the fields (so ``dataclasses.fields``, ``replace`` and
``asdict`` work as before) but generates none of those methods: generic ones read the field
list instead. Same arguments for what the code uses: ``@dataclass`` and
``@dataclass(frozen=True)``; same behaviour for construction (positional and keyword), field
defaults and factories, ``init=False``, ``repr``/``compare`` flags and ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: object) -> Callable[[Any], Any]:
        return lambda fn: fn

_T = TypeVar("_T", bound=type)
_MISSING: Any = dataclasses.MISSING


@overload
def dataclass(cls: _T, /) -> _T: ...


@overload
def dataclass(*, frozen: bool = False) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: _T | None = None, /, *, frozen: bool = False) -> Any:
    """``dataclasses.dataclass`` (or ``dataclass(frozen=True)``) without generated code."""
    if cls is None:
        return lambda c: build(c, frozen=frozen)
    return build(cls, frozen=frozen)


def build(cls: _T, *, frozen: bool, kw_only: bool = False) -> _T:
    """Make ``cls`` a dataclass with the generic methods (``kw_only``: no positional
    arguments; :class:`wsdoctor.modelbase.Model` builds its classes with this too)."""
    own = dict(cls.__dict__)
    dataclasses.dataclass(init=False, repr=False, eq=False, kw_only=kw_only)(cls)
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    init: tuple[tuple[str, bool, Any, Callable[[], Any] | None], ...] = tuple(
        (f.name, f.init, f.default,
         None if f.default_factory is _MISSING else cast("Callable[[], Any]", f.default_factory))
        for f in fields)
    positional = tuple(f.name for f in fields if f.init and not f.kw_only)
    shown = tuple(f.name for f in fields if f.repr)
    compared = tuple(f.name for f in fields if f.compare)
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
    post_init = hasattr(cls, "__post_init__")
    name = cls.__qualname__

    def __init__(self: Any, *args: Any, **values: Any) -> None:
        if len(args) > len(positional):
            raise TypeError(f"{name}() takes {len(positional)} positional arguments but "
                            f"{len(args)} were given")
        for field_name, value in zip(positional, args, strict=False):
            if field_name in values:
                raise TypeError(f"{name}() got multiple values for argument '{field_name}'")
            values[field_name] = value
        state = self.__dict__
        for field_name, in_init, default, factory in init:
            if in_init and field_name in values:
                state[field_name] = values.pop(field_name)
            elif factory is not None:
                state[field_name] = factory()
            elif default is not _MISSING:
                state[field_name] = default
            elif in_init:
                raise TypeError(f"{name}() missing required argument: '{field_name}'")
        if values:
            raise TypeError(f"{name}() got an unexpected keyword argument "
                            f"'{next(iter(values))}'")
        if post_init:
            self.__post_init__()

    def __repr__(self: Any) -> str:
        state = self.__dict__
        return f"{name}({', '.join(f'{n}={state[n]!r}' for n in shown if n in state)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        mine, theirs = self.__dict__, other.__dict__
        return all(mine[n] == theirs[n] for n in compared)

    methods: dict[str, Any] = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        def __setattr__(self: Any, attr: str, value: object) -> None:
            if type(self) is cls or attr in names:  # as the stdlib's frozen dataclass
                raise dataclasses.FrozenInstanceError(f"cannot assign to field '{attr}'")
            object.__setattr__(self, attr, value)

        def __delattr__(self: Any, attr: str) -> None:
            if type(self) is cls or attr in names:  # as the stdlib's frozen dataclass
                raise dataclasses.FrozenInstanceError(f"cannot delete field '{attr}'")
            object.__delattr__(self, attr)

        def __hash__(self: Any) -> int:
            state = self.__dict__
            return hash(tuple(state[n] for n in hashed))

        methods |= {"__setattr__": __setattr__, "__delattr__": __delattr__,
                    "__hash__": __hash__}
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    for attr, method in methods.items():
        if attr in own and not (attr == "__hash__" and not explicit_hash):
            continue
        method.__qualname__ = f"{name}.{attr}"
        setattr(cls, attr, method)
    if not frozen and not explicit_hash:
        cls.__hash__ = None  # type: ignore[assignment]  # as dataclass(eq=True) does
    return cls
