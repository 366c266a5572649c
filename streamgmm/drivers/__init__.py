"""Drivers: run the numeric core over data held in memory, on Dask, or as a stream."""
