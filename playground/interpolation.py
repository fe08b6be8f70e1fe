"""Compose's variable interpolation, applied to a Compose file as it loads.

``${VAR}`` and ``$VAR`` take the variable's value, from the environment or
else from the ``.env`` file beside the Compose file, as Compose does. The
forms with a default (``${VAR:-default}``, ``${VAR-default}``), an error
(``${VAR:?message}``, ``${VAR?message}``) and an alternative
(``${VAR:+alt}``, ``${VAR+alt}``) follow Compose: the colon forms treat an
empty value as unset. ``$$`` stays as it is, and a ``$`` that a value brings
in becomes ``$$``, so the result is still Compose text and neither Compose
nor Swarm expands it again.

NOTE: a default or alternative that contains another variable
(``${A:-${B}}``, ``${A:+x${A}}``) is not expanded; Compose's nested forms
are rare in lab files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playground.errors import ConfigError

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?+])(?P<word>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>\{[^}]*\}?))"
)


# Keys whose values the Compose Specification types as integers.
INTEGER_KEYS = frozenset({
    "replicas", "retries", "published", "target", "pids_limit", "parallelism",
    "max_attempts", "max_replicas_per_node",
})


def variables_for(file: Path, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the variables for ``file``: its folder's ``.env`` file, then
    the environment, which wins."""
    found = read_env_file(file.parent / ".env")
    found.update(os.environ if environment is None else environment)
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """Return the ``KEY=VALUE`` lines of an env file. Blank lines and ``#``
    comments are skipped, and one pair of enclosing quotes is removed. In an
    unquoted value, a ``#`` after a space starts a comment."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            # In an unquoted value, " #" starts a comment.
            value = re.split(r"\s#", value, maxsplit=1)[0].rstrip()
        found[key.strip()] = value
    return found


def interpolate(value: Any, variables: Mapping[str, str], file: Path, where: str = "") -> Any:
    """Return ``value`` (a loaded Compose document or any part of it) with
    every variable reference in its strings replaced. Keys stay as written.

    Raises ConfigError, naming the file and key, for a reference with an
    error form whose variable is unset, and for a malformed reference.
    """
    if isinstance(value, dict):
        return {
            key: _typed(key, item, interpolate(item, variables, file, _join(where, key)))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate(item, variables, file, f"{where}[{index}]")
            for index, item in enumerate(value)
        ]
    if isinstance(value, str) and "$" in value:
        return _REFERENCE.sub(lambda match: _replace(match, variables, file, where), value)
    return value


def _typed(key: Any, written: Any, value: Any) -> Any:
    """Return a number where an integer key got its value from a variable:
    Compose converts such values by the key's type, and ``docker stack
    deploy`` rejects a string there."""
    from_variable = isinstance(written, str) and "$" in written
    if key in INTEGER_KEYS and from_variable and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _replace(match: re.Match, variables: Mapping[str, str], file: Path, where: str) -> str:
    if match["escaped"]:
        return "$$"
    if match["invalid"] is not None:
        raise ConfigError(
            f"{file}: {where}: invalid variable reference {match[0]!r}: expected "
            "${NAME}, ${NAME:-default}, ${NAME:?message} or $$ for a literal $"
        )
    name = match["braced"] or match["plain"]
    operator, word = match["operator"], match["word"] or ""
    value = variables.get(name)
    is_set = value is not None and (value != "" or not (operator or "").startswith(":"))

    if operator in (":-", "-"):
        result = value if is_set else word
    elif operator in (":?", "?"):
        if not is_set:
            raise ConfigError(
                f"{file}: {where}: variable {name} is not set"
                + (f": {word}" if word else ""),
                hint=f"set {name} in the environment or in {file.parent / '.env'}",
            )
        result = value
    elif operator in (":+", "+"):
        result = word if is_set else ""
    else:
        result = value or ""
    return (result or "").replace("$", "$$")


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)
