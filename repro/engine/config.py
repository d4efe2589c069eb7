"""Training configuration as data: a dataclass read from a YAML mapping, every field validated.

An error names the source (file and line when known) and the field, and says what was expected.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import DataError

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step", "plateau")
AMP_DTYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, epochs, batch, precision and seed.

    The papers' choices map onto it: SGD with momentum and weight decay (FASTER, GCF-Net, KPSEM, the
    distillation paper), FASTER's cosine schedule, GCF-Net's reduce-on-plateau ("reduced 3 times with
    a factor of 10 when the validation loss converges"), MAiVAR's Adam.
    """

    epochs: int = 1                     # 0: evaluate a trained model only (e.g. another test protocol)
    batch_size: int = 8
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "constant"
    warmup_epochs: int = 0
    step_epochs: tuple[int, ...] = ()   # "step": multiply lr by `gamma` at these epochs
    gamma: float = 0.1                  # "step" and "plateau" factor
    patience: int = 2                   # "plateau": epochs without improvement of the val loss
    amp: bool = True                    # mixed precision where the device supports it (CUDA)
    amp_dtype: str = "bfloat16"         # bfloat16 (no loss scaling needed) or float16 (with a gradient scaler)
    seed: int = 0
    workers: int = 2
    grad_clip: float | None = None
    eval_every: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # pipeline-specific settings, e.g. a loss weight

    def __post_init__(self) -> None:
        problems = []
        if self.amp_dtype not in AMP_DTYPES:
            problems.append(("amp_dtype", f"one of {', '.join(AMP_DTYPES)}, got {self.amp_dtype!r}"))
        if self.optimizer not in OPTIMIZERS:
            problems.append(("optimizer", f"one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"))
        if self.schedule not in SCHEDULES:
            problems.append(("schedule", f"one of {', '.join(SCHEDULES)}, got {self.schedule!r}"))
        if self.epochs < 0:
            problems.append(("epochs", f"an integer >= 0 (0: evaluate only), got {self.epochs!r}"))
        for name in ("batch_size", "eval_every"):
            if getattr(self, name) < 1:
                problems.append((name, f"an integer >= 1, got {getattr(self, name)!r}"))
        for name in ("lr", "weight_decay", "momentum", "workers", "warmup_epochs"):
            if getattr(self, name) < 0:
                problems.append((name, f"a number >= 0, got {getattr(self, name)!r}"))
        if not 0 < self.gamma <= 1:
            problems.append(("gamma", f"a factor in (0, 1], got {self.gamma!r}"))
        if problems:
            name, expected = problems[0]
            raise DataError("train config", None, name, expected)

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None, source: str = "train config") -> TrainConfig:
        """Build from a YAML mapping, converting and checking types; unknown keys are errors."""
        values = dict(values or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise DataError(source, _line(values, unknown[0]), unknown[0],
                            f"a training setting: one of {', '.join(known)}")
        converted = {}
        for name, value in values.items():
            kind = known[name].type
            try:
                converted[name] = _convert(value, kind)
            except (TypeError, ValueError):
                raise DataError(source, _line(values, name), name, f"a value of type {kind}, got {value!r}") from None
        try:
            return cls(**converted)
        except DataError as exc:
            raise DataError(source, _line(values, exc.field), exc.field, exc.expected) from None

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changes_from(self, saved: dict[str, Any]) -> list[str]:
        """The settings in which this config differs from `saved` (a checkpoint's); a setting added since the
        checkpoint was written counts only when it is not at its default, which is what that run used."""
        defaults = TrainConfig().as_dict()
        mine = self.as_dict()
        return sorted(k for k, v in mine.items() if saved.get(k, defaults[k]) != v)


def _line(values: Any, key: str) -> int | None:
    line_of = getattr(values, "line_of", None)
    return line_of(key) if line_of else None


def _convert(value: Any, kind: str) -> Any:
    if kind == "int":
        if isinstance(value, bool) or int(value) != float(value):
            raise ValueError(value)
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if kind == "str":
        return str(value)
    if kind == "float | None":
        return None if value is None else float(value)
    if kind.startswith("tuple"):
        return tuple(int(v) for v in value)
    if kind.startswith("dict"):
        if not isinstance(value, dict):
            raise TypeError(value)
        return dict(value)
    return value
