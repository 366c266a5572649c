"""``ConfigError`` and the translation of pydantic's errors into readable lines.

Every line names the key path (``model.covariance_type``), the value given and
what is allowed, so a user can fix the YAML without reading this code.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from streamgmm.core.errors import StreamGMMError

__all__ = ["ConfigError", "format_key_path", "describe_validation_error"]


class ConfigError(StreamGMMError, ValueError):
    """A configuration file or mapping is unreadable or breaks the schema.

    Attributes
    ----------
    source : str
        The file (or "<mapping>") the configuration came from.
    problems : tuple of str
        One line per problem, each starting with the key path.
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"{source}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"{source}: {len(self.problems)} problems:\n{lines}"
        super().__init__(message)


def format_key_path(loc: Sequence[str | int]) -> str:
    """``("data", "columns", 2)`` -> ``"data.columns[2]"``; ``()`` -> ``"(top level)"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


#: Keys whose values are never echoed in errors (a secret pasted where a variable's name goes).
_SECRET_KEY = re.compile(r"password|secret|token|credential|passphrase|_env$", re.IGNORECASE)


def _hides_secret(loc: Sequence[str | int]) -> bool:
    return any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc)


def _show(value: Any, loc: Sequence[str | int] = ()) -> str:
    if _hides_secret(loc):
        return "(value hidden)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The config class that owns the key at ``loc`` (for listing its allowed keys)."""
    current: type[BaseModel] = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        section = _section_class(getattr(field, "annotation", None))
        if section is None:
            return None
        current = section
    return current


def _section_class(annotation: Any) -> type[BaseModel] | None:
    """The config class of a field: ``Section`` or an optional ``Section | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    sections = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    return sections[0] if len(sections) == 1 else None


def _unknown_key_line(model: type[BaseModel], loc: tuple[str | int, ...], value: Any) -> str:
    key = str(loc[-1])
    owner = _model_at(model, loc[:-1])
    path = format_key_path(loc)
    if owner is None:
        return f"{path}: unknown key (value {_show(value, loc)}); remove it"
    allowed = list(owner.model_fields)
    guess = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else "."
    where = format_key_path(loc[:-1]) if loc[:-1] else "the top level"
    return (
        f"{path}: unknown key {key!r} (value {_show(value, loc)}){hint} "
        f"The keys allowed in {where} are: {', '.join(allowed)}."
    )


def describe_validation_error(model: type[BaseModel], error: ValidationError) -> list[str]:
    """One readable line per problem in ``error`` (raised validating ``model``)."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        path = format_key_path(loc)
        message = str(item["msg"])
        if kind == "extra_forbidden":
            lines.append(_unknown_key_line(model, loc, item.get("input")))
        elif kind == "missing":
            lines.append(f"{path}: required key is missing; add it")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            lines.append(
                f"{path}: expected a mapping of keys (a YAML block), got {_show(item.get('input'), loc)}"
            )
        else:
            if kind == "value_error" and message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            elif kind == "assertion_error" and message.startswith("Assertion failed, "):
                message = message[len("Assertion failed, ") :]
            if kind == "literal_error":
                message = f"choose one of {item.get('ctx', {}).get('expected', message)}"
            elif message.startswith("Input should be "):
                message = "it must be " + message[len("Input should be ") :]
            value = item.get("input")
            if isinstance(value, (dict, BaseModel)):  # a whole section: its own rule speaks
                lines.append(f"{path}: {message}")
            else:
                lines.append(f"{path}: {_show(value, loc)} is not allowed; {message}")
    return lines
