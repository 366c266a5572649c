"""A reader for the ``.ts`` text format of the UEA & UCR time series classification archive.

The format (as written by the archive and by sktime) is::

    # free comment lines
    @problemName JapaneseVowels
    @timeStamps false
    @missing false
    @univariate false
    @dimensions 12
    @equalLength false
    @classLabel true 1 2 3 4 5 6 7 8 9
    @data
    1.86,1.89,1.94:-0.21,-0.19,-0.24: ... :1

After ``@data`` each line is one series: its dimensions separated by ``:``, the values of a
dimension separated by ``,`` and, when ``@classLabel true``, the class label last. Series may
have different lengths (``@equalLength false``), but the dimensions of one series must have
the same length here, because every time step becomes one row (frame) of a table. Missing
values are written ``?`` and read as NaN. Time-stamped series (``@timeStamps true``, values
written as ``(t,v)``) and regression targets are not supported and are refused with a clear
error rather than misread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..core.errors import InvalidInputError

__all__ = ["TsFormatError", "TsDataset", "parse_ts"]


class TsFormatError(InvalidInputError):
    """A ``.ts`` file is malformed or uses a feature of the format this reader does not support."""


@dataclass(frozen=True)
class TsDataset:
    """The content of one ``.ts`` file.

    Attributes
    ----------
    problem_name : str
    n_dimensions : int
        Channels per series (D).
    class_labels : tuple of str
        The labels declared by ``@classLabel``, in declaration order.
    series : list of ndarray, each of shape (length_i, D), float64
        One array per series, in file order; row ``t`` is time step ``t``.
    labels : list of str
        The class label of each series, as written in the file.
    header : dict of str to str
        Every ``@`` header line, keyword (lower case, without ``@``) -> rest of the line.
    """

    problem_name: str
    n_dimensions: int
    class_labels: tuple[str, ...]
    series: list[np.ndarray]
    labels: list[str]
    header: dict[str, str]

    @property
    def lengths(self) -> np.ndarray:
        """Length of each series, shape (n_series,), int64."""
        return np.array([len(s) for s in self.series], dtype=np.int64)


def parse_ts(text: str | Iterable[str], *, source: str = "<ts>") -> TsDataset:
    """Parse the text of a ``.ts`` file.

    Parameters
    ----------
    text : str or iterable of str
        The whole file, or its lines.
    source : str
        Name used in error messages (a file name, or a member of an archive).

    Returns
    -------
    TsDataset

    Raises
    ------
    TsFormatError
        On a malformed header or data line, naming ``source`` and the line number.
    """
    lines = text.splitlines() if isinstance(text, str) else list(text)
    header: dict[str, str] = {}
    data_start = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise TsFormatError(
                f"{source}, line {number}: data before the @data line: {line[:60]!r}"
            )
        keyword, _, rest = line[1:].partition(" ")
        keyword = keyword.lower()
        if keyword == "data":
            data_start = number
            break
        header[keyword] = rest.strip()
    if data_start is None:
        raise TsFormatError(f"{source}: no @data line; is this a .ts file?")

    n_dimensions, class_labels = _check_header(header, source)
    equal_length = _flag(header, "equallength", source, default=False)
    declared_length = int(header["serieslength"]) if "serieslength" in header else None

    series: list[np.ndarray] = []
    labels: list[str] = []
    for number, raw in enumerate(lines[data_start:], start=data_start + 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        values, label = _parse_data_line(
            line, n_dimensions, class_labels, f"{source}, line {number}"
        )
        if equal_length and declared_length is not None and len(values) != declared_length:
            raise TsFormatError(
                f"{source}, line {number}: series of length {len(values)}, but the header "
                f"declares @equalLength true and @seriesLength {declared_length}"
            )
        series.append(values)
        labels.append(label)
    if not series:
        raise TsFormatError(f"{source}: no series after the @data line")
    if equal_length and len({len(s) for s in series}) > 1:
        raise TsFormatError(
            f"{source}: @equalLength true, but series lengths range from "
            f"{min(len(s) for s in series)} to {max(len(s) for s in series)}"
        )
    return TsDataset(
        problem_name=header.get("problemname", ""),
        n_dimensions=n_dimensions,
        class_labels=class_labels,
        series=series,
        labels=labels,
        header=header,
    )


def _check_header(header: dict[str, str], source: str) -> tuple[int, tuple[str, ...]]:
    """Validate the header keywords this reader relies on; return (D, class labels)."""
    if _flag(header, "timestamps", source, default=False):
        raise TsFormatError(
            f"{source}: @timeStamps true is not supported (values written as (t,v))"
        )
    if "targetlabel" in header and header["targetlabel"].split()[0].lower() == "true":
        raise TsFormatError(f"{source}: regression targets (@targetLabel true) are not supported")
    univariate = _flag(header, "univariate", source, default=True)
    if "dimensions" in header:
        try:
            n_dimensions = int(header["dimensions"])
        except ValueError:
            raise TsFormatError(
                f"{source}: @dimensions {header['dimensions']!r} is not an integer"
            ) from None
    else:
        n_dimensions = 1 if univariate else 0
    if n_dimensions < 1:
        raise TsFormatError(f"{source}: a multivariate file needs a positive @dimensions line")
    words = header.get("classlabel", "false").split()
    if not words or words[0].lower() != "true":
        raise TsFormatError(f"{source}: only labelled files (@classLabel true ...) are supported")
    class_labels = tuple(words[1:])
    if not class_labels:
        raise TsFormatError(f"{source}: @classLabel true declares no labels")
    return n_dimensions, class_labels


def _flag(header: dict[str, str], keyword: str, source: str, *, default: bool) -> bool:
    """A true/false header value."""
    if keyword not in header:
        return default
    value = header[keyword].split()[0].lower() if header[keyword] else ""
    if value not in ("true", "false"):
        raise TsFormatError(f"{source}: @{keyword} must be true or false, got {header[keyword]!r}")
    return value == "true"


def _parse_data_line(
    line: str, n_dimensions: int, class_labels: tuple[str, ...], where: str
) -> tuple[np.ndarray, str]:
    """One series: (values of shape (length, D), label)."""
    fields = line.split(":")
    if len(fields) != n_dimensions + 1:
        raise TsFormatError(
            f"{where}: {len(fields) - 1} dimension(s) before the label, expected {n_dimensions}"
        )
    label = fields[-1].strip()
    if label not in class_labels:
        raise TsFormatError(
            f"{where}: label {label!r} is not among the declared {list(class_labels)}"
        )
    dims = []
    for j, field in enumerate(fields[:-1]):
        tokens = [token.strip() for token in field.split(",")]
        if "(" in field:
            raise TsFormatError(f"{where}: dimension {j} holds time-stamped values, not supported")
        try:
            # "?" is the format's missing value.
            dims.append(
                np.array(["nan" if token == "?" else token for token in tokens], dtype=np.float64)
            )
        except ValueError:
            bad = next(token for token in tokens if not _is_number(token))
            raise TsFormatError(f"{where}: dimension {j}: {bad!r} is not a number") from None
    lengths = {len(d) for d in dims}
    if len(lengths) > 1:
        raise TsFormatError(
            f"{where}: the dimensions of one series have different lengths {sorted(lengths)}; "
            "frames need every channel at every time step"
        )
    return np.stack(dims, axis=1), label


def _is_number(token: str) -> bool:
    if token == "?":
        return True
    try:
        float(token)
    except ValueError:
        return False
    return True
