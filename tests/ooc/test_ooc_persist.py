"""``persist``: rows read into memory once instead of on every pass, with the same model.

Real Zarr stores and Dask's threaded scheduler; the distributed case is in
``test_ooc_determinism.py`` (it shares that module's LocalCluster).
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np
import pytest
from ooc_helpers import CHUNK, N_SAMPLES, assert_same_model, estimator, given_init

import streamgmm
from streamgmm.core.errors import InvalidParameterError
from streamgmm.drivers import persist as persist_module
from streamgmm.io.sources import ZarrRows, _from_reader, open_rows

N_CHUNKS = -(-N_SAMPLES // CHUNK)


class CountingZarrRows(ZarrRows):
    """The project's Zarr reader, counting the row ranges it reads (threads share it)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0
        self._lock = threading.Lock()

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        with self._lock:
            self.reads += 1
        return super().read_rows(start, stop)


def counted_rows(path) -> tuple[streamgmm.RowData, CountingZarrRows]:
    rows = open_rows(str(path))
    base = rows.reader
    reader = CountingZarrRows(base.store, base.path, base.shape, base.dtype, base.transpose)
    return dataclasses.replace(rows, reader=reader, array=_from_reader(reader, rows.row_chunks)), reader


def fit(X, source, persist, scheduler="threads", **options):
    return estimator(covariance_type="diag", scheduler=scheduler, persist=persist,
                     **given_init(X, "diag"), **options).fit(source)


def test_persisted_rows_are_read_once_and_fit_the_same_model(zarr3_path, X):
    rows, reader = counted_rows(zarr3_path)
    streamed = fit(X, rows, persist=False)
    passes = streamed.n_iter_  # one pass per EM iteration (the lower bound comes with it)
    assert reader.reads == N_CHUNKS * passes, "without persist, every pass reads every chunk"
    assert streamed.persisted_ is False

    rows, reader = counted_rows(zarr3_path)
    held = fit(X, rows, persist=True)
    assert reader.reads == N_CHUNKS
    assert held.persisted_ is True
    assert_same_model(held, streamed, "persist=True vs False")


def test_auto_holds_small_data_and_says_so(zarr3_path, X, caplog):
    with caplog.at_level(logging.INFO, logger="streamgmm.drivers.dask_rows"):
        model = fit(X, str(zarr3_path), persist="auto")
    assert model.persisted_ is True
    assert "persist='auto'" in caplog.text and "the memory available on this machine" in caplog.text


def test_auto_streams_data_that_would_not_clearly_fit(zarr3_path, X, monkeypatch, caplog):
    # A budget fraction small enough that this machine's memory cannot hold the test data.
    monkeypatch.setattr(persist_module, "AUTO_PERSIST_FRACTION", 1e-12)
    rows, reader = counted_rows(zarr3_path)
    with caplog.at_level(logging.INFO, logger="streamgmm.drivers.dask_rows"):
        model = fit(X, rows, persist="auto")
    assert model.persisted_ is False
    assert reader.reads == N_CHUNKS * model.n_iter_
    assert "exceed" in caplog.text and "every pass reads the data" in caplog.text


def test_auto_does_not_hold_rows_for_the_processes_scheduler():
    decision = persist_module.decide_persist("auto", 1000, "processes")
    assert decision.persist is False and "processes" in decision.reason
    assert persist_module.decide_persist(True, 1000, "processes").persist is True


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None, "AUTO"])
def test_invalid_persist_values_are_named(zarr3_path, value):
    with pytest.raises(InvalidParameterError, match=r"persist=.*choose False .* True .* 'auto'"):
        streamgmm.GaussianMixture(2, persist=value).fit(str(zarr3_path))


def test_in_memory_fits_ignore_persist(X):
    model = streamgmm.GaussianMixture(3, persist=True, random_state=0, max_iter=3).fit(X[:500])
    assert not hasattr(model, "persisted_")
