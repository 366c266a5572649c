"""Message formats: every format round-trips rows exactly; every bad message names its fault."""

from __future__ import annotations

import numpy as np
import pytest

from streamgmm.online.messages import BINARY_HEADER, FORMATS, MessageDecodeError, decode_rows, encode_rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_rows_exactly(fmt: str) -> None:
    rows = np.random.default_rng(0).normal(size=(37, 13))
    decoded = decode_rows(encode_rows(rows, fmt), fmt, n_features=13)
    assert decoded.dtype == np.float64 and decoded.shape == (37, 13)
    np.testing.assert_array_equal(decoded, rows)


def test_binary_keeps_float32_values_and_a_single_json_row_is_accepted() -> None:
    rows = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    payload = encode_rows(rows, "binary")
    assert len(payload) == BINARY_HEADER.size + rows.nbytes
    np.testing.assert_array_equal(decode_rows(payload, "binary", n_features=None), rows.astype(np.float64))
    np.testing.assert_array_equal(decode_rows(b"[1, 2.5, 3]", "json", n_features=3), [[1.0, 2.5, 3.0]])


def test_arrow_reads_the_named_columns_in_their_order() -> None:
    rows = np.arange(12.0).reshape(4, 3)
    payload = encode_rows(rows, "arrow", columns=["a", "b", "c"])
    np.testing.assert_array_equal(decode_rows(payload, "arrow", n_features=2, columns=["c", "a"]), rows[:, [2, 0]])
    with pytest.raises(MessageDecodeError, match=r"no column\(s\) \['z'\]"):
        decode_rows(payload, "arrow", n_features=None, columns=["a", "z"])


@pytest.mark.parametrize(
    "fmt, payload, n_features, reason",
    [
        ("binary", b"SGM", None, "shorter than the 14-byte binary header"),
        ("binary", b"XXXX" + encode_rows(np.ones((2, 2)), "binary")[4:], None, "magic"),
        ("binary", encode_rows(np.ones((2, 2)), "binary")[:-3], None, "truncated or corrupted"),
        ("binary", encode_rows(np.ones((2, 2)), "binary"), 3, "has 2 features per row; the stream has 3"),
        ("binary", encode_rows(np.array([[1.0, np.nan], [1.0, 2.0]]), "binary"), 2, "NaN or infinite values in 1 row"),
        ("json", b"{not json", None, "is not JSON"),
        ("json", b'{"a": 1}', None, "expected an array of rows"),
        ("json", b"[[1, 2], [3]]", None, "rows of numbers of one length"),
        ("json", b"[[1, 2], [3, Infinity]]", 2, "NaN or infinite"),
        ("arrow", b"not arrow at all", None, "not an Arrow IPC stream"),
    ],
)
def test_a_bad_message_is_refused_with_its_reason(fmt: str, payload: bytes, n_features: int | None, reason: str) -> None:
    with pytest.raises(MessageDecodeError) as caught:
        decode_rows(payload, fmt, n_features=n_features)
    assert reason in caught.value.reason


def test_an_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match="choose one of json, binary, arrow"):
        encode_rows(np.ones((1, 1)), "csv")
