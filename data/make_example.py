"""Write the example datasets the configs in ``configs/`` use, if they are missing.

    python data/make_example.py [--overwrite]

Writes, under ``data/generated/`` (git-ignored; nothing large is committed):

``example.zarr``       200,000 x 8 float32 rows from a 6-component full-covariance
                       mixture, Zarr format 3, 8 chunks of 25,000 rows (6.4 MB)
``example-parquet/``   the same rows as 8 Parquet files (columns x0..x7 and label)

The content is deterministic (seed 6; see ``streamgmm.io.datagen``), so every
machine fits the same data. The true parameters are saved beside the data
(``_true_params.npz``; read them with ``streamgmm.io.datagen.true_parameters``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from streamgmm.io.datagen import generate_mixture_dataset

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "generated"

#: The example: name -> storage format.
EXAMPLES = {"example.zarr": "zarr", "example-parquet": "parquet"}
SHAPE = {"n_samples": 200_000, "n_features": 8, "n_components": 6}
CHUNK_ROWS = 25_000
SEED = 6


def make_examples(folder: Path = GENERATED, *, overwrite: bool = False) -> list[Path]:
    """Generate each example dataset that is missing (all of them with ``overwrite``).

    Returns
    -------
    list of Path
        The datasets written now (empty when all existed).
    """
    written = []
    for name, kind in EXAMPLES.items():
        path = folder / name
        if path.exists() and not overwrite:
            continue
        info = generate_mixture_dataset(
            path,
            **SHAPE,
            format=kind,
            chunk_rows=CHUNK_ROWS,
            dtype="float32",
            covariance_type="full",
            separation=4.0,
            seed=SEED,
            overwrite=overwrite,
        )
        written.append(info.path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate the missing example datasets and say what is there."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overwrite", action="store_true", help="regenerate even if present")
    args = parser.parse_args(argv)
    written = make_examples(overwrite=args.overwrite)
    for name in EXAMPLES:
        path = GENERATED / name
        state = "written" if path in written else "present"
        print(f"make_example: {state} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
