"""The one error type for a value that breaks a rule: ``key=value: rule. Fix: fix``, printed as one line before
any heavy work starts."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A config or input value that breaks a rule: ``key=value: rule. Fix: fix``."""

    def __init__(self, key: str, value: Any, rule: str, fix: str):
        self.key, self.value, self.rule, self.fix = key, value, rule, fix
        shown = value if isinstance(value, (int, float, bool)) or value is None else repr(value)
        super().__init__(f"{key}={shown}: {rule}. Fix: {fix}")

    def about(self, key: str, value: Any) -> ConfigError:
        """The same rule and fix, said of another key and value (a loader naming the file a config came from)."""
        return ConfigError(key, value, self.rule, self.fix)
