"""Prefect flows: thin orchestration over the streamgmm library.

Each flow reads a YAML config (``configs/``), calls the library in a few tasks
(retries on I/O only, no caching of arrays, Dask fanning out over chunks inside
a task) and records Prefect artifacts. Flows live in the repository, not in the
installed package: nothing in ``streamgmm`` imports them, and deployments name
them by file (``flows/batch_fit.py:batch_fit``). Run one from the repository root::

    python -m flows.batch_fit configs/batch_fit.yaml
"""
