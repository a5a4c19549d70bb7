"""Numbers as people read them: 1,234; 12.5%; 6 h 10 min; 1,234.50 USD. Never scientific notation.

Every report, table and progress line formats its numbers here, so a count, a share or a duration reads
the same wherever it is printed.
"""

from __future__ import annotations

import math

SIGNIFICANT = 4
"""Significant digits of a measured number below 1,000 (above it, the whole number with separators)."""


def count(value: int) -> str:
    return f"{value:,}"


def number(value: float, significant: int = SIGNIFICANT) -> str:
    """A measured number: whole with separators from 1,000 up, else ``significant`` digits, in positional notation."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if abs(value) >= 1000 or value == int(value):
        return f"{round(value):,}"
    decimals = significant - 1 - math.floor(math.log10(abs(value)))
    text = f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def percent(fraction: float, decimals: int = 1) -> str:
    """A fraction of one as a percentage: 0.125 reads 12.5%."""
    if math.isnan(fraction):
        return "n/a"
    return f"{fraction * 100:,.{decimals}f}%"


def duration(seconds: float) -> str:
    """A span of time in the two largest units that matter: 6 h 10 min, 3 d 4 h, 12 min, 1 min 40 s, 45 s, 1.2 s,
    0 s (seconds count below ten minutes, where a rounded minute would be off by a third)."""
    if math.isnan(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 and seconds != int(seconds) else f"{round(seconds)} s"
    if seconds < 600:
        whole, rest = divmod(round(seconds), 60)
        return f"{whole} min {rest:02d} s" if rest else f"{whole} min"
    minutes = round(seconds / 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days:,} d {hours} h" if hours else f"{days:,} d"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def minutes(value: float | None) -> str:
    """A duration measured in minutes (times to detect and resolve), ``n/a`` when there is none."""
    return "n/a" if value is None else duration(value * 60)


def money(amount: float, currency: str) -> str:
    """An amount with its currency, to the cent: 1,234.50 USD."""
    return f"{amount:,.2f} {currency}"


def rate(amount: float, seconds: float, unit: str) -> str:
    """A throughput: 106,000 spans/s."""
    return f"{number(amount / seconds) if seconds > 0 else 'n/a'} {unit}/s"


def size(octets: float) -> str:
    """Bytes in binary units: 1.5 GiB."""
    power = min(3, int(math.log(max(abs(octets), 1), 1024)))
    return f"{number(octets / 1024**power, 3)} {('B', 'KiB', 'MiB', 'GiB')[power]}"
