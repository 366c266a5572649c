"""``streamgmm datagen PATH``: a synthetic mixture dataset (:mod:`streamgmm.io.datagen`)."""

from ..io.datagen import add_datagen_arguments as configure, run_datagen as run  # noqa: F401

DESCRIPTION = (
    "Write a synthetic Gaussian-mixture dataset chunk by chunk (bounded memory), with its true "
    "parameters saved beside it."
)
