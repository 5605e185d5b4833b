"""Plain-English pieces of the one-line results the notebooks print (headlines on the report index)."""

from __future__ import annotations

from collections.abc import Iterable


def listed(words: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c' ('' for none)."""
    words = [str(w) for w in words]
    return " and ".join(filter(None, (", ".join(words[:-1]), words[-1]))) if words else ""


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """'1 file', '0 files', '2 count mismatches' (plural: `singular` + 's' unless given)."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def signed_percent(value: float) -> str:
    """A relative difference in per cent with its sign and a true minus: '−3.2 %', '+12 %', '±0 %';
    one decimal below 10 %, none from 10 % on; 'n/a' for NaN."""
    if value != value:
        return "n/a"
    text = f"{abs(value):.1f}" if abs(value) < 10 else f"{abs(value):.0f}"
    if float(text) == 0:
        return "±0 %"
    return f"{'−' if value < 0 else '+'}{text} %"
