"""Durations as users write them, one parser for every command-line option and for the
exporter's configuration: seconds (``90``, ``0.5``) or with units, compound as in Prometheus
and Go (``250ms``, ``90s``, ``5m``, ``2min``, ``1h30m``, ``1.5h``)."""

from __future__ import annotations

import argparse
import re

_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|min|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}
EXAMPLES = "seconds, or with units: 250ms, 90s, 5m, 1h30m"


def parse_duration(text: str) -> float:
    """Seconds from ``text``; ValueError when it is not a duration (the sign and range are
    the caller's to judge)."""
    stripped = text.strip()
    parts = _PART.findall(stripped)
    if parts and "".join(number + unit for number, unit in parts) == stripped:
        return sum(float(number) * _UNITS[unit] for number, unit in parts)
    try:
        return float(stripped)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration ({EXAMPLES})") from None


def positive_duration(text: str) -> float:
    """``type=`` of an argparse option taking a duration: positive and finite."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive duration ({EXAMPLES})")
    return value
