"""The one way a config value is checked: a failed check names the key, the value and what is allowed.

Every config dataclass's ``validate()`` goes through these, so every message reads the same:

    algorithm.num_generations=1 is invalid; allowed: >= 2 (a group needs two completions)
"""

from __future__ import annotations

from collections.abc import Iterable

from biasgrpo.errors import ConfigError

Check = tuple[bool, str, object, str]
"""(ok, key relative to the prefix, value, what is allowed)."""


def check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")


def one_of(key: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    check(value in allowed, key, value, " | ".join(allowed))


def check_all(prefix: str, checks: list[Check]) -> None:
    """Raise for the first failed check, its key written as ``<prefix>.<key>``."""
    for ok, key, value, allowed in checks:
        check(ok, f"{prefix}.{key}", value, allowed)
