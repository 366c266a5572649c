"""Paths and URIs in configs: ``${VAR}`` expansion, ``~``, and relative paths.

Rules (one place):

- ``${NAME}`` is replaced by the environment variable ``NAME``; ``${NAME:-default}``
  uses ``default`` when ``NAME`` is unset or empty. An unset or empty variable
  without a default is an error naming it (and saying which of the two it is).
  ``$$`` is a literal ``$``.
- A leading ``~`` is the user's home folder.
- A relative local path is relative to the folder of the config file (so a config
  runs the same from any working directory); for a config given as a mapping,
  to the ``base_dir`` given, by default the working directory.
- URLs (``s3://...``, ``gs://...``, ``file://...``) are kept as written after
  expansion.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["expand_variables", "is_url", "resolve_location"]

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def expand_variables(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in ``text``.

    Raises
    ------
    ValueError
        An unset or empty variable without a default, or a malformed ``${...}``.
    """
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None:
            raise ValueError(
                f"{whole!r} is not a valid variable reference; write ${{NAME}} or "
                "${NAME:-default} with NAME made of letters, digits and '_' (use $$ for a '$')"
            )
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            raise ValueError(
                f"environment variable {name} is not set; set it, write the value out, or give "
                f"a default as ${{{name}:-default}}"
            )
        raise ValueError(
            f"environment variable {name} is set but empty; give it a value, write the value "
            f"out, or give a default as ${{{name}:-default}} (used when it is unset or empty)"
        )

    return _VARIABLE.sub(replace, text)


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL (``scheme://...``) rather than a local path."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text))


def resolve_location(text: str, base_dir: Path | None) -> str:
    """Expand variables and ``~``; make a relative local path absolute against ``base_dir``."""
    expanded = expand_variables(text)
    if not expanded.strip():
        raise ValueError("the path is empty")
    if is_url(expanded):
        return expanded
    path = Path(expanded).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return os.path.normpath(path)
