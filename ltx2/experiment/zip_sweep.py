"""Paired ("zipped") sweeps: job i takes the i-th value of every zipped list, and the pairs are crossed with the
ordinary swept overrides. ``hydra/sweeper=zip`` (hydra_plugins/ltx2_sweeps/zip_sweeper.py) reads
``hydra.sweeper.zip``::

    hydra:
      sweeper:
        zip: {width: [96, 128, 160], height: [64, 96, 128]}   # 3 pairs
        params: {seed: 0,1}                                   # x 2 seeds = 6 jobs

Each zipped value is a YAML list or a Hydra sweep string (``96,128,160``, ``range(3)``). The pairs are the
outermost loop: pair 0 with every seed, then pair 1, ...
"""

from __future__ import annotations

from typing import Any

from ltx2.errors import ConfigError


def zipped_values(key: str, value: Any) -> list[str]:
    """Override value strings (as Hydra would print them) of one zipped key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import ListConfig, OmegaConf

    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value)
    if isinstance(value, list):
        return [_as_override_value(v) for v in value]
    try:
        override = OverridesParser.create().parse_overrides([f"{key}={value}"])[0]
    except Exception:  # noqa: BLE001 - Hydra's parse error is long; the rule is short
        raise ConfigError(f"hydra.sweeper.zip.{key}", value, "not a list or a sweep of values",
                          f"hydra.sweeper.zip.{key}=[a,b,c] or '{key}: a,b,c' in the sweep file") from None
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    if not override.is_discrete_sweep():
        raise ConfigError(f"hydra.sweeper.zip.{key}", value, "a zipped key takes a list of values, not an interval",
                          f"list the values: {key}: a,b,c")
    return list(override.sweep_string_iterator())


def pairs(zip_params: dict) -> list[list[str]]:
    """The zipped overrides, one list per job: [[k1=v1_0, k2=v2_0], [k1=v1_1, k2=v2_1], ...]. Lists of unequal
    length are a ConfigError naming the lengths."""
    columns = {key: zipped_values(key, value) for key, value in zip_params.items()}
    if not columns:
        return []
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) > 1:
        (first, n), (key, m) = next(iter(lengths.items())), next((k, m) for k, m in lengths.items()
                                                                 if m != next(iter(lengths.values())))
        raise ConfigError(f"hydra.sweeper.zip.{key}", ",".join(columns[key]), f"zipped lists must have equal lengths "
                          f"({', '.join(f'{k}: {m}' for k, m in lengths.items())})",
                          f"give {key} {n} values, like {first}, or move it to hydra.sweeper.params to cross it")
    return [[f"{key}={values[i]}" for key, values in columns.items()] for i in range(next(iter(lengths.values())))]


def combine(zipped: list[list[str]], product: list[list[str]], crossed_keys: set[str]) -> list[list[str]]:
    """Every pair followed by every combination of the ordinary sweep (pairs outermost). A key both zipped and
    swept is a ConfigError."""
    if not zipped:
        return product
    both = sorted({o.split("=", 1)[0] for o in zipped[0]} & crossed_keys)
    if both:
        raise ConfigError(f"hydra.sweeper.zip.{both[0]}", None, "this key is also swept or set outside the zip",
                          f"keep {both[0]} in hydra.sweeper.zip only")
    return [pair + job for pair in zipped for job in (product or [[]])]


def _as_override_value(value: Any) -> str:
    from hydra.core.override_parser.types import Override

    return Override._get_value_element_as_str(value)
