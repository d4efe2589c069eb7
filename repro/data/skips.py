"""The record of unreadable samples, and the threshold past which a run stops.

A loader, a flow extraction or an audio-image job skips an unreadable file and records its path and
reason here. When the skipped share passes `max_share` the job fails with a summary that lists them,
so a broken dataset never trains silently on what is left of it. Before the end, a job stops only
when the share is past the threshold beyond reasonable doubt (the 3-sigma Wilson lower bound), so a
few bad files early in a shuffled epoch do not end a run that is fine overall.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class TooManyUnreadable(RuntimeError):
    """The share of unreadable samples passed the configured threshold."""


@dataclass
class SkipLog:
    max_share: float = 0.05
    min_seen: int = 20  # judge the share early only once it means something
    seen: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_share <= 1.0:
            raise ValueError(f"max_share must be within [0, 1], got {self.max_share!r}")

    def ok(self) -> None:
        self.seen += 1

    def skip(self, path: Path | str, reason: str) -> None:
        self.seen += 1
        self.skipped.append((str(path), reason))
        self.check(final=False)

    @property
    def share(self) -> float:
        return len(self.skipped) / self.seen if self.seen else 0.0

    def lower_bound(self, z: float = 3.0) -> float:
        """Wilson score lower bound of the unreadable share."""
        n, p = self.seen, self.share
        if n == 0:
            return 0.0
        centre = p + z * z / (2 * n)
        spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return max(0.0, (centre - spread) / (1 + z * z / n))

    def check(self, final: bool = True) -> None:
        """Raise TooManyUnreadable when the skipped share is past the threshold: at the end (`final`),
        as measured; before it, only when its lower bound is."""
        if not self.skipped:
            return
        if (self.share if final else self.lower_bound()) > self.max_share and (final or self.seen >= self.min_seen):
            raise TooManyUnreadable(self.summary())

    def summary(self, limit: int = 10) -> str:
        if not self.skipped:
            return f"all {self.seen} samples readable"
        reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
        lines = [f"{len(self.skipped)} of {self.seen} samples unreadable ({self.share:.1%}, "
                 f"threshold {self.max_share:.1%}): " + ", ".join(f"{n} {r}" for r, n in reasons.most_common())]
        lines += [f"  {path}: {reason}" for path, reason in self.skipped[:limit]]
        if len(self.skipped) > limit:
            lines.append(f"  ... and {len(self.skipped) - limit} more")
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {"seen": self.seen, "max_share": self.max_share,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}

    def restore(self, state: dict) -> None:
        """Continue from `as_json()` of a checkpointed log (a resumed run keeps its counts)."""
        self.seen = int(state.get("seen", 0))
        self.skipped = [(str(x["path"]), str(x["reason"])) for x in state.get("skipped", [])]

    def write(self, path: Path) -> None:
        from ..atomic import write_text_atomic

        write_text_atomic(Path(path), json.dumps(self.as_json(), indent=1) + "\n")
