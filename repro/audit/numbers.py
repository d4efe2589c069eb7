"""Numbers as a paper printed them: the value and the precision its digits imply."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

ABSENT = {"-", "--", "—", "–", "n/a", "na", ""}

_NUMBER = re.compile(
    r"^(?P<qualifier>[<>≤≥~≈]?)\s*(?P<sign>[+\-−]?)(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d+))?"
    r"\s*(?P<suffix>%|M|G|K|x|×)?$"
)


@dataclass(frozen=True)
class Printed:
    """A printed number: `value`, and `half_unit`, half of its last printed digit.

    `qualifier` keeps a printed bound or approximation sign: ">107.9" is at least 107.9.
    """

    value: float
    text: str
    half_unit: float
    qualifier: str = ""

    def bounds(self) -> tuple[float, float]:
        """The interval the printed text stands for."""
        lo, hi = self.value - self.half_unit, self.value + self.half_unit
        if self.qualifier in (">", "≥"):
            return self.value, math.inf
        if self.qualifier in ("<", "≤"):
            return -math.inf, self.value
        return lo, hi

    @property
    def decimals(self) -> int:
        frac = self.text.split(".", 1)[1] if "." in self.text else ""
        return len(re.match(r"\d*", frac).group(0))


def is_absent(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip().lower() in ABSENT)


def parse_printed(raw: object) -> Printed:
    """Parse a printed number such as "73.20", "6,932", "3.12M" or "−0.4".

    Raises ValueError with the text when it is not a number.
    """
    text = str(raw).strip()
    match = _NUMBER.match(text)
    if not match or not (match.group("int") or match.group("frac")):
        raise ValueError(f"a number as printed (e.g. 73.2, \"6,932\", \"-\" for absent), got {text!r}")
    sign = -1.0 if match.group("sign") in ("-", "−") else 1.0
    whole = (match.group("int") or "0").replace(",", "")
    frac = match.group("frac") or ""
    value = sign * float(f"{whole}.{frac}" if frac else whole)
    return Printed(value=value, text=text, half_unit=0.5 * 10.0 ** (-len(frac)),
                   qualifier=match.group("qualifier"))


MINUS = "\N{MINUS SIGN}"


def decimals_for(value: float, significant: int = 3) -> int:
    """Decimals that show `value` with `significant` digits (0 for values of that many digits or more)."""
    if value == 0 or not math.isfinite(value):
        return 0
    return max(0, min(6, significant - 1 - math.floor(math.log10(abs(value)))))


def show(value: float | None, decimals: int | None = None, *, signed: bool = False) -> str:
    """`value` as a reader should see it: at `decimals` (None: three significant digits), thousands
    separated from 10,000, a true minus sign, never exponent form and never "-0.0"."""
    if value is None:
        return "—"
    if math.isinf(value):
        return ("" if value > 0 else MINUS) + "∞"
    if math.isnan(value):
        return "n/a"
    places = decimals_for(value) if decimals is None else decimals
    text = f"{abs(value):,.{places}f}" if abs(value) >= 1e4 else f"{abs(value):.{places}f}"
    if not text.strip("0.,"):  # rounds to zero: no sign either way
        return text
    sign = MINUS if value < 0 else ("+" if signed else "")
    return sign + text


def with_unit(text: str, unit: str | None) -> str:
    """A number and its unit as a reader writes them: "57%", "1.00×", "6.4 GFLOPs"."""
    if not unit:
        return text
    if unit == "%":
        return f"{text}%"
    if unit == "x":
        return f"{text}×"
    return f"{text} {unit}"
