"""Which Parquet columns are features when none are chosen (issue 13, item 6).

``streamgmm datagen`` writes a truth column ``label`` beside the features; it used
to be fitted as a feature when a config gave no ``columns``. Now the files declare
their columns' roles in the schema metadata and the reader takes the features only,
saying what it left out; a foreign file with a non-numeric column is a clear error.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamgmm.core.errors import InvalidInputError
from streamgmm.io.sources import COLUMN_ROLES_KEY, open_rows

REPO = Path(__file__).resolve().parents[2]


def _datagen(target: Path, *extra: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "streamgmm.cli.datagen", str(target), "--n-samples", "3000",
         "--n-features", "3", "--n-components", "2", "--format", "parquet",
         "--chunk-rows", "1000", *extra],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_datagen_parquet_without_columns_gives_the_features_not_the_truth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "mix.parquet"
    _datagen(target)
    schema = pq.read_schema(sorted(target.glob("*.parquet"))[0])
    assert schema.names == ["x0", "x1", "x2", "label"]
    assert json.loads(schema.metadata[COLUMN_ROLES_KEY]) == {"features": ["x0", "x1", "x2"], "other": ["label"]}

    with caplog.at_level(logging.INFO, logger="streamgmm.io.sources"):
        rows = open_rows(str(target))
    assert rows.feature_names == ("x0", "x1", "x2")
    assert rows.shape == (3000, 3)
    table = pq.read_table(target)
    expected = np.column_stack([table[name].to_numpy() for name in ("x0", "x1", "x2")])
    np.testing.assert_array_equal(rows.array.compute(), expected)
    assert any("left out label" in record.getMessage() for record in caplog.records)

    # A selection that names the truth column is the user's choice, and is honoured.
    chosen = open_rows(str(target), columns=["x1", "label"])
    assert chosen.feature_names == ("x1", "label")
    np.testing.assert_array_equal(chosen.array.compute()[:, 1], table["label"].to_numpy())


def test_parquet_from_an_older_datagen_leaves_label_out(tmp_path: Path) -> None:
    """Files written before the roles were recorded carry only the datagen description."""
    table = pa.table(
        {"x0": np.arange(5.0), "x1": np.ones(5), "label": np.zeros(5, dtype=np.int32)}
    ).replace_schema_metadata({b"streamgmm.datagen": b'{"generator": "streamgmm.io.datagen"}'})
    pq.write_table(table, tmp_path / "old.parquet")
    rows = open_rows(str(tmp_path / "old.parquet"))
    assert rows.feature_names == ("x0", "x1")


def test_foreign_parquet_uses_every_numeric_column(tmp_path: Path) -> None:
    table = pa.table({"a": np.arange(4.0), "b": np.arange(4, dtype=np.int64), "label": np.ones(4)})
    pq.write_table(table, tmp_path / "plain.parquet")
    assert open_rows(str(tmp_path / "plain.parquet")).feature_names == ("a", "b", "label")


def test_foreign_parquet_with_a_text_column_names_it_and_the_way_out(tmp_path: Path) -> None:
    table = pa.table({"a": np.arange(4.0), "city": ["x", "y", "z", "w"], "b": np.ones(4)})
    pq.write_table(table, tmp_path / "mixed.parquet")
    with pytest.raises(InvalidInputError) as caught:
        open_rows(str(tmp_path / "mixed.parquet"))
    message = str(caught.value)
    assert "'city'" in message and "mixed.parquet" in message
    assert "no columns were given" in message and "columns=[a, b]" in message


def test_corrupt_roles_metadata_is_a_clear_error(tmp_path: Path) -> None:
    table = pa.table({"a": np.arange(3.0)}).replace_schema_metadata({COLUMN_ROLES_KEY: b"{not json"})
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(InvalidInputError, match="column roles"):
        open_rows(str(tmp_path / "bad.parquet"))
