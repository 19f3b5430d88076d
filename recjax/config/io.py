"""Configs to and from plain dicts (JSON/YAML), with the checks a file needs: unknown keys
and wrong types are errors naming the key."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def to_dict(cfg) -> dict:
    """A nested dict of plain values (tuples become lists)."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def _convert(tp, value, path: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, path)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise TypeError(f"{path}: {value!r} does not fit {tp}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{path}: expected a mapping, got {value!r}")
        return from_dict(tp, value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{path}: expected a mapping, got {value!r}")
        key_tp, value_tp = args or (Any, Any)
        return {_convert(key_tp, k, path): _convert(value_tp, v, f"{path}.{k}")
                for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{path}: expected a list, got {value!r}")
        inner = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else None
        if inner is None and args and len(args) != len(value):
            raise TypeError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(inner or args[i], v, f"{path}[{i}]") if (inner or args) else v
                     for i, v in enumerate(value))
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is Any or isinstance(value, tp):
        return value
    raise TypeError(f"{path}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def from_dict(cls, data: dict, path: str = ""):
    """Build the (frozen) dataclass ``cls`` from a nested dict; unknown keys and wrong types
    raise ``TypeError`` naming the key; the class's own checks raise ``ValueError``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise TypeError(f"{path or cls.__name__}: unknown key(s) {unknown}; valid: "
                        f"{sorted(names)}")
    kwargs = {k: _convert(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()}
    return cls(**kwargs)


def diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Keys whose values differ between two nested dicts, as ``a.b.c: x != y``."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        key = f"{prefix}{k}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out += diff(va, vb, key + ".")
        elif va != vb:
            out.append(f"{key}: {va!r} != {vb!r}")
    return out
