"""Configuration loading and validation: collect every problem, raise once.

A settings class is a frozen dataclass. ``load(cls, data, path)`` builds it from
plain JSON-like data, checking each field's type, rejecting unknown keys (with
the allowed ones listed) and then calling the class's own ``check(path,
problems)`` for the rules that involve values. Nothing raises before every
problem in the whole configuration has been found; then one ``ConfigError``
lists them all, each naming the field, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """One or more configuration problems; ``problems`` holds them all."""

    def __init__(self, problems: Iterable[str]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class Problems:
    """Collects problems as ``<field path>: <what is wrong>`` lines."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self._items.append(f"{path}: {message}")

    def extend(self, other: "Problems") -> None:
        self._items.extend(other._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise ConfigError(self._items)

    # Small reusable rules -------------------------------------------------

    def check_range(self, path: str, value: float | int | None, low: float, high: float, unit: str = "") -> None:
        if value is not None and not (low <= value <= high):
            suffix = f" {unit}" if unit else ""
            self.add(path, f"{value!r} is out of range; allowed: {low}–{high}{suffix}")

    def check_choice(self, path: str, value: Any, allowed: Iterable[Any]) -> None:
        allowed = tuple(allowed)
        if value not in allowed:
            self.add(path, f"{value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None)) + " or null"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return "object"
    if dataclasses.is_dataclass(tp):
        return "object"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(tp: Any, value: Any, path: str, problems: Problems) -> Any:
    """Check ``value`` against the annotation ``tp``; return the typed value or None."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path, problems)
    if dataclasses.is_dataclass(tp):
        return load(tp, value, path, problems)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            problems.add(path, f"{value!r} must be a {_type_name(tp)}")
            return None
        item_type = typing.get_args(tp)[0]
        items = [_convert(item_type, v, join(path, i), problems) for i, v in enumerate(value)]
        return tuple(items)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            problems.add(path, f"{value!r} must be an object of strings")
            return None
        return types.MappingProxyType(dict(sorted(value.items())))
    if tp is bool:
        if not isinstance(value, bool):
            problems.add(path, f"{value!r} must be a boolean (true or false)")
            return None
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.add(path, f"{value!r} must be an integer")
            return None
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(path, f"{value!r} must be a number")
            return None
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.add(path, f"{value!r} must be a string")
            return None
        return value
    raise TypeError(f"unsupported settings annotation {tp!r} at {path}")  # programming error


def load(cls: type[T], data: Any, path: str, problems: Problems,
         internal: Mapping[str, Any] | None = None) -> T | None:
    """Build the settings dataclass ``cls`` from ``data``; record problems, never raise for bad data.

    ``internal`` supplies the fields marked internal (filled by the loader, not settable by the user).
    """
    if not isinstance(data, Mapping):
        problems.add(path or "<root>", f"must be an object, got {type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    # Fields marked internal are filled in by the loader, never by the user.
    settable = {f.name for f in init_fields if not f.metadata.get("internal")}
    for key in sorted(set(data) - settable):
        problems.add(join(path, key), f"unknown setting; allowed: {', '.join(sorted(settable))}")
    data = {**data, **(internal or {})}
    kwargs: dict[str, Any] = {}
    before = len(problems)
    constructible = True
    for f in init_fields:
        field_path = join(path, f.name)
        field_type = hints[f.name]
        if f.name in data:
            value = _convert(field_type, data[f.name], field_path, problems)
            if value is None and data[f.name] is not None:
                # Keep checking the rest: a failed section falls back to its defaults for now.
                if f.default_factory is not dataclasses.MISSING:
                    value = f.default_factory()
                elif f.default is not dataclasses.MISSING:
                    value = f.default
                else:
                    constructible = False
            kwargs[f.name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(field_type):
                kwargs[f.name] = load(field_type, {}, field_path, problems)
            else:
                problems.add(field_path, f"required ({_type_name(field_type)})")
                constructible = False
    if not constructible:
        return None
    instance = cls(**kwargs)
    check = getattr(instance, "check", None)
    if check is not None:
        check(path, problems)
    return instance if len(problems) == before else None
