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
Shape = tuple[int, ...]
_REGISTRY: dict[str, Builder] = {}
_EXAMPLES: dict[str, tuple[tuple[Shape, ...], Shape]] = {}
_REFERENCE_INPUTS: dict[str, tuple[Shape, ...]] = {}
_discovered = False


def _prefix(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "papers" and len(parts) > 2:
        return parts[1]
    return parts[0]


def _shapes(shapes: Shape | tuple[Shape, ...]) -> tuple[Shape, ...]:
    shapes = shapes if isinstance(shapes[0], tuple) else (shapes,)
    return tuple(tuple(s) for s in shapes)


def register(builder: Builder | None = None, *, example_input: Shape | tuple[Shape, ...] | None = None,
             example_output: Shape | None = None, reference_input: Shape | tuple[Shape, ...] | None = None):
    """Register `builder` under `<baselines|paper id>/<function name>`.

    Use bare (`@register`) or with a small example: `@register(example_input=(1, 3, 8, 32, 32),
    example_output=(1, 400))`. The example is a shape the default model accepts and is cheap on CPU; the
    tests run every model on it. A model taking several tensors gives a tuple of shapes.

    `reference_input` is the size a model is benchmarked at when no paper's `runtime.yaml` benchmarks it:
    the size its architecture was published at, or for a proxy-only model the synthetic data's size.
    """
    def add(fn: Builder) -> Builder:
        name = f"{_prefix(fn.__module__)}/{fn.__name__}"
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"model {name!r} is registered twice ({fn.__module__})")
        _REGISTRY[name] = fn
        if example_input is not None:
            _EXAMPLES[name] = (_shapes(example_input), tuple(example_output or ()))
        if reference_input is not None:
            _REFERENCE_INPUTS[name] = _shapes(reference_input)
        return fn

    return add(builder) if builder is not None else add


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


def example(name: str) -> tuple[tuple[Shape, ...], Shape] | None:
    """(input shapes, output shape) of the small example registered with `name`, if any."""
    builder(name)
    return _EXAMPLES.get(name)


def reference_input(name: str) -> tuple[Shape, ...] | None:
    """The input shapes registered with `name` for benchmarks outside any paper, if any."""
    builder(name)
    return _REFERENCE_INPUTS.get(name)


def builder(name: str) -> Builder:
    """The builder registered as `name`, or `package.module:function` for a model of your own."""
    if ":" in name:
        module, _, function = name.partition(":")
        try:
            return getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError):
            raise KeyError(f"cannot import model builder {name!r} (module:function on sys.path)") from None
    _discover()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.4)
        hint = f"; close matches: {', '.join(close)}" if close else f"; the models: {', '.join(available())}"
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
