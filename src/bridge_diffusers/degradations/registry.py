# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Name-based lookup of the corruption operators, e.g. ``get_degradation("sr4x-bicubic")``.

A registered name binds an operator class to the keyword arguments of one official setting, so one class can
serve several names (``jpeg5`` and ``jpeg10`` are both :class:`JPEGCompression`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .base import Degradation


__all__ = ["get_degradation", "list_degradations", "register_degradation"]

_DegradationClass = TypeVar("_DegradationClass", bound=type[Degradation])


@dataclass(frozen=True)
class _Entry:
    cls: type[Degradation]
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, _Entry] = {}
_ALIASES: dict[str, str] = {}


def _normalize(name: str) -> str:
    return name.strip().lower()


def register_degradation(
    name: str, *, aliases: tuple[str, ...] = (), **defaults: Any
) -> Callable[[_DegradationClass], _DegradationClass]:
    """Class decorator that registers a :class:`Degradation` subclass under ``name``.

    Decorators can be stacked to register one class under several names with different settings.

    Args:
        name (`str`):
            The canonical name, matched case-insensitively.
        aliases (`tuple[str, ...]`, *optional*):
            Other spellings that resolve to ``name`` (e.g. ``"jpeg-5"`` for ``"jpeg5"``).
        **defaults:
            Constructor keyword arguments of this setting; :func:`get_degradation` callers can override them.

    Returns:
        The decorator, which returns the class unchanged.

    Raises:
        ValueError: if ``name`` or an alias is already taken.
    """
    key = _normalize(name)
    alias_keys = tuple(_normalize(alias) for alias in aliases)

    def decorator(cls: _DegradationClass) -> _DegradationClass:
        if not (isinstance(cls, type) and issubclass(cls, Degradation)):
            raise TypeError(f"Only Degradation subclasses can be registered, got {cls!r}.")
        for taken in (key, *alias_keys):
            if taken in _REGISTRY or taken in _ALIASES:
                raise ValueError(f"A degradation named {taken!r} is already registered.")
        _REGISTRY[key] = _Entry(cls, dict(defaults))
        for alias in alias_keys:
            _ALIASES[alias] = key
        return cls

    return decorator


def list_degradations() -> list[str]:
    """The canonical names of all registered operators, sorted (aliases not included)."""
    return sorted(_REGISTRY)


def get_degradation(name: str, **kwargs: Any) -> Degradation:
    """Build the operator registered under ``name`` (or one of its aliases).

    Args:
        name (`str`):
            A name from :func:`list_degradations`, case-insensitive; ``"jpeg-5"`` and ``"jpeg-10"`` are accepted
            for ``"jpeg5"`` and ``"jpeg10"``.
        **kwargs:
            Constructor arguments overriding the registered setting, e.g.
            ``get_degradation("jpeg10", encoder="pillow")``.

    Returns:
        [`Degradation`]: a new operator instance.

    Raises:
        ValueError: if ``name`` is unknown; the message lists the available names.
    """
    key = _normalize(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        available = ", ".join(list_degradations())
        aliases = ", ".join(f"{alias} -> {target}" for alias, target in sorted(_ALIASES.items()))
        raise ValueError(f"Unknown degradation {name!r}. Available: {available} (aliases: {aliases}).")
    entry = _REGISTRY[key]
    return entry.cls(**{**entry.defaults, **kwargs})
