"""Writers of a generated dataset's two layouts (Zarr, Parquet) and of its true parameters.

Both writers take chunks in any order from several threads (chunks never overlap); see
:mod:`streamgmm.io.datagen` for the layouts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..sources import column_roles_metadata
from ..zarr_metadata import consolidate_metadata
from .sampling import Mixture

__all__ = [
    "FEATURE_DIM",
    "FORMATS",
    "ParquetWriter",
    "SAMPLE_DIM",
    "SCHEMA_VERSION",
    "TRUE_PARAMS_FILENAME",
    "ZarrWriter",
    "feature_names",
    "save_truth",
]

TRUE_PARAMS_FILENAME = "_true_params.npz"
"""Name of the file holding the true mixture parameters, inside the dataset folder."""

SCHEMA_VERSION = 1
"""Version of the layout written here (the ``_true_params.npz`` keys and the group attributes)."""

SAMPLE_DIM = "sample"
FEATURE_DIM = "feature"
FORMATS = ("zarr", "parquet")


class ZarrWriter:
    """Creates the Zarr group and writes chunks into it (thread-safe: chunks never overlap)."""

    def __init__(
        self,
        root: Path,
        *,
        shape: tuple[int, int],
        chunk_rows: int,
        dtype: np.dtype,
        zarr_format: int,
        attributes: dict[str, Any],
    ) -> None:
        import zarr

        self._root = root
        n_samples, n_features = shape
        group = zarr.open_group(
            store=str(root), mode="w", zarr_format=zarr_format, attributes=attributes
        )

        def dims(*names: str) -> dict[str, Any]:
            if zarr_format == 3:
                return {"dimension_names": names}
            return {"attributes": {"_ARRAY_DIMENSIONS": list(names)}}

        # Format 2 readers (xarray) treat a fill value as a missing-value mask, which would turn
        # integer arrays into floats; format 3 needs one. NaN for X makes a lost chunk visible.
        int_fill = -1 if zarr_format == 3 else None
        # Write every chunk even if it equals the fill value (e.g. all NaN), so readers that refuse
        # missing chunks never see a hole in a complete dataset.
        always_write = {"write_empty_chunks": True}
        self.X = group.create_array(
            "X",
            shape=shape,
            chunks=(chunk_rows, n_features),
            dtype=dtype,
            fill_value=np.nan,
            config=always_write,
            **dims(SAMPLE_DIM, FEATURE_DIM),
        )
        self.labels = group.create_array(
            "labels",
            shape=(n_samples,),
            chunks=(chunk_rows,),
            dtype="int32",
            fill_value=int_fill,
            config=always_write,
            **dims(SAMPLE_DIM),
        )
        self.sample = group.create_array(
            SAMPLE_DIM,
            shape=(n_samples,),
            chunks=(chunk_rows,),
            dtype="int64",
            fill_value=int_fill,
            config=always_write,
            **dims(SAMPLE_DIM),
        )
        feature = group.create_array(
            FEATURE_DIM, shape=(n_features,), chunks=(n_features,), dtype=str, **dims(FEATURE_DIM)
        )
        feature[:] = np.array(feature_names(n_features))

    def write(self, index: int, start: int, X: np.ndarray, labels: np.ndarray) -> None:
        stop = start + X.shape[0]
        self.X[start:stop] = X
        self.labels[start:stop] = labels
        self.sample[start:stop] = np.arange(start, stop, dtype=np.int64)

    def finish(self) -> None:
        consolidate_metadata(self._root)


class ParquetWriter:
    """Writes one Parquet file (one row group) per chunk: ``part-00000.parquet``, ..."""

    def __init__(
        self, root: Path, *, n_chunks: int, n_features: int, dtype: np.dtype, metadata: str
    ) -> None:
        import pyarrow as pa

        root.mkdir(exist_ok=True)  # the staging folder, already created empty
        self._root = root
        self._width = max(5, len(str(n_chunks - 1)))
        value_type = pa.from_numpy_dtype(dtype)
        self._names = [*feature_names(n_features), "label"]
        self._schema = pa.schema(
            [pa.field(name, value_type) for name in self._names[:-1]]
            + [pa.field("label", pa.int32())],
            metadata={
                b"streamgmm.datagen": metadata.encode(),
                # Readers take the features only, never the truth, when no columns are given.
                **column_roles_metadata(self._names[:-1], ["label"]),
            },
        )

    def write(self, index: int, start: int, X: np.ndarray, labels: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = np.ascontiguousarray(X.T)
        arrays = [pa.array(column) for column in columns] + [pa.array(labels)]
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        path = self._root / f"part-{index:0{self._width}d}.parquet"
        # Dictionary encoding of random floats costs ~7x the write time and is then abandoned.
        pq.write_table(
            table, path, row_group_size=max(1, X.shape[0]), use_dictionary=["label"]
        )

    def finish(self) -> None:
        pass


def feature_names(n_features: int) -> list[str]:
    return [f"x{j}" for j in range(n_features)]


def save_truth(
    file: Path, mixture: Mixture, description: dict[str, Any], bad_rows: np.ndarray
) -> None:
    with open(file, "wb") as handle:
        np.savez(
            handle,
            schema_version=np.int64(SCHEMA_VERSION),
            covariance_type=np.str_(mixture.covariance_type),
            weights=mixture.weights,
            means=mixture.means,
            covariances=mixture.covariances(),
            nan_rows=bad_rows.astype(np.int64),
            description=np.str_(json.dumps(description)),
        )
