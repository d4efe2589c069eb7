"""The model registry: `build("faster/fast_gru", ...)`, `available()`.

Builders register themselves with `@register` in `baselines/<family>.py` (named
`baselines/<builder>`) and in `papers/<id>/models.py` (named `<id>/<builder>`). The registry finds
them by importing those modules, so it names no paper itself.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Callable

from torch import nn

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}
_discovered = False


def _prefix(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "papers" and len(parts) > 2:
        return parts[1]
    return parts[0]


def register(builder: Builder) -> Builder:
    """Register `builder` under `<baselines|paper id>/<function name>`."""
    name = f"{_prefix(builder.__module__)}/{builder.__name__}"
    if name in _REGISTRY and _REGISTRY[name] is not builder:
        raise ValueError(f"model {name!r} is registered twice ({builder.__module__})")
    _REGISTRY[name] = builder
    return builder


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import baselines
    import papers

    for info in pkgutil.iter_modules(baselines.__path__):
        importlib.import_module(f"baselines.{info.name}")
    for info in pkgutil.iter_modules(papers.__path__):
        if info.ispkg and importlib.util.find_spec(f"papers.{info.name}.models") is not None:
            importlib.import_module(f"papers.{info.name}.models")
    _discovered = True


def available() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def builder(name: str) -> Builder:
    _discover()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.4)
        hint = f"; close matches: {', '.join(close)}" if close else "; see repro.models.available()"
        raise KeyError(f"unknown model {name!r}{hint}")
    return _REGISTRY[name]


def build(name: str, **kwargs) -> nn.Module:
    """Build a registered model; keyword arguments go to its builder (e.g. num_classes)."""
    make = builder(name)
    allowed = inspect.signature(make).parameters
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise TypeError(f"{name} takes {', '.join(allowed) or 'no arguments'}; got unknown {', '.join(unknown)}")
    return make(**kwargs)


def describe(name: str) -> str:
    """The builder's docstring: the paper section, sources and expected input shape."""
    return inspect.getdoc(builder(name)) or ""
