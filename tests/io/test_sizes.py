"""Sizes as people write and read them: one parser, one formatter."""

from __future__ import annotations

import pytest

from streamgmm.core.errors import InvalidParameterError
from streamgmm.io.sizes import format_bytes, parse_size


@pytest.mark.parametrize(
    ("n_bytes", "binary", "text"),
    [
        (512, False, "512 B"),
        (1_500_000, False, "1.5 MB"),
        (8 * 10**9, False, "8.0 GB"),
        (3 * 10**15, False, "3000.0 TB"),
        (512 * 2**20, True, "512.0 MiB"),
        (2.5 * 2**30, True, "2.5 GiB"),
        (1023, True, "1023 B"),
    ],
)
def test_format_bytes(n_bytes: float, binary: bool, text: str) -> None:
    assert format_bytes(n_bytes, binary=binary) == text


def test_formatted_sizes_parse_back() -> None:
    for n_bytes in (1, 999, 10**6, 7 * 10**9):
        assert parse_size(format_bytes(n_bytes).replace(" ", "")) == n_bytes
    assert parse_size(format_bytes(3 * 2**30, binary=True)) == 3 * 2**30


def test_unknown_unit_names_the_accepted_ones() -> None:
    with pytest.raises(InvalidParameterError, match="KiB, MiB, GiB, TiB of 1024"):
        parse_size("3 parsecs")
