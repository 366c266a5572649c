"""Rules for model names, aliases and version references, in one place.

Names and aliases become folder and key names, so they are restricted to a
portable set: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or
digit (so they never collide with the registry's hidden ``.staging``/``.trash``
folders and never mean ``..``). An alias may not be all digits, so that a
reference such as ``"3"`` always means version 3.
"""

from __future__ import annotations

import numbers
import re

from streamgmm.core.errors import InvalidParameterError

__all__ = [
    "LATEST",
    "check_alias",
    "check_model_name",
    "parse_ref",
    "version_dirname",
    "version_from_dirname",
]

#: The alias the registry maintains itself: the most recently published version.
LATEST = "latest"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts e.g. superscripts
_NAME_RULE = (
    "use 1 to 128 characters from letters, digits, '.', '_' and '-', "
    "starting with a letter or digit"
)


def check_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise ``InvalidParameterError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidParameterError(f"Invalid model name {name!r}: {_NAME_RULE}.")
    return name


def check_alias(alias: object, *, allow_latest: bool = False) -> str:
    """Return ``alias`` if it is a valid alias name, else raise ``InvalidParameterError``.

    Parameters
    ----------
    alias : object
        The candidate alias.
    allow_latest : bool, default False
        Whether the reserved ``"latest"`` is acceptable (true when reading, false
        when a user sets an alias: the registry alone moves ``latest``).
    """
    if not isinstance(alias, str) or not _NAME.fullmatch(alias) or _DIGITS.fullmatch(alias):
        raise InvalidParameterError(
            f"Invalid alias {alias!r}: {_NAME_RULE}, and not all digits "
            "(digits are read as a version number)."
        )
    if alias == LATEST and not allow_latest:
        raise InvalidParameterError(
            f"The alias {LATEST!r} is maintained by the registry (it always names the newest "
            "published version) and cannot be set by hand; choose another alias such as "
            "'production'."
        )
    return alias


def parse_ref(ref: int | str) -> int | str:
    """Read a version reference: a version number (int or digit string) or an alias.

    Returns
    -------
    int or str
        The version number (>= 1), or the alias name.
    """
    if isinstance(ref, bool):  # bool is an int subclass; True is not "version 1"
        raise InvalidParameterError(f"Invalid version reference {ref!r}: give a number or alias.")
    if isinstance(ref, numbers.Integral) or (isinstance(ref, str) and _DIGITS.fullmatch(ref)):
        version = int(ref)
        if version < 1:
            raise InvalidParameterError(f"Version numbers start at 1; got {ref!r}.")
        return version
    return check_alias(ref, allow_latest=True)


def version_dirname(version: int) -> str:
    """Folder name of a version: its number in decimal, no padding."""
    return str(int(version))


def version_from_dirname(dirname: str) -> int | None:
    """The version number a folder name stands for, or None if it is not a version folder."""
    if _DIGITS.fullmatch(dirname) and dirname == str(int(dirname)) and int(dirname) >= 1:
        return int(dirname)
    return None
