"""Validation of sampling parameters (Hydra builds these objects from YAML, so every value is checked once,
with a message that names the parameter, its value, the rule and the fix)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

from ltx2.errors import ConfigError


def integer(name: str, value, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(name, value, "must be an integer", f"set {name} to a whole number")
    if minimum is not None and value < minimum:
        raise ConfigError(name, value, f"must be >= {minimum}", f"set {name} to {minimum} or more")
    return int(value)


def real(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ConfigError(name, value, "must be a finite number", f"set {name} to a number such as 1.0")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{'-inf' if low is None else low}, " \
                   f"{'inf' if high is None else high}{')' if high_open else ']'}"
        raise ConfigError(name, value, f"must lie in {interval}", f"choose {name} inside {interval}")
    return value


def boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, value, "must be true or false", f"set {name} to true or false")
    return value


def int_tuple(name: str, values, minimum: int = 0) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(name, values, "must be a list of integers", f"write {name} as a list, e.g. [29]")
    return tuple(integer(f"{name}[{i}]", v, minimum) for i, v in enumerate(values))


def sigma_values(name: str, values) -> tuple[float, ...]:
    """A schedule: at least two values, each in [0, 1], strictly decreasing."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(name, values, "must be a list of sigmas", f"write {name} as a list, e.g. [1.0, 0.5, 0.0]")
    out = tuple(real(f"{name}[{i}]", v, 0.0, 1.0) for i, v in enumerate(values))
    if len(out) < 2:
        raise ConfigError(name, list(out), "needs at least two sigmas (one step)",
                          f"give {name} a start and an end sigma")
    if any(b >= a for a, b in zip(out, out[1:])):
        raise ConfigError(name, list(out), "must be strictly decreasing",
                          f"sort {name} from high to low without repeats")
    return out
