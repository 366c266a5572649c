"""Readers, writers and stream sources: Zarr, Parquet, folders, stdin."""
