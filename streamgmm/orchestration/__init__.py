"""Prefect flows and tasks: thin orchestration over the streamgmm library.

The only package of streamgmm that imports Prefect (an import-linter contract in
``pyproject.toml`` checks it). Each flow reads a YAML config (``configs/``), calls
the library in a few tasks (retries on I/O only, no caching of arrays, Dask fanning
out over chunks inside a task) and records Prefect artifacts.

Flows: :mod:`.batch_fit`, :mod:`.select_k`, :mod:`.score`, :mod:`.online_update`
(:data:`FLOW_MODULES`). Shared pieces: :mod:`._shared` (retry rules, task options,
common tasks), :mod:`._command` (running a flow as a command), :mod:`._api` (the
Prefect API a command's run uses) and :mod:`._server` (Prefect's temporary API
server as a process, started by a flow command first thing; imports no Prefect).

They ship in the wheel and run from it, from any working directory::

    streamgmm fit configs/batch_fit.yaml            # the batch_fit flow, now
    python -m streamgmm.orchestration.batch_fit configs/batch_fit.yaml
    streamgmm serve --prefect-yaml prefect.yaml     # the deployments, on their schedules

The repository's top-level ``flows/`` holds one-line entrypoints that re-export
these flows for ``prefect.yaml`` (``flows/batch_fit.py:batch_fit``) and for
``python -m flows.batch_fit CONFIG``; ``streamgmm serve`` registers the flows by
module path (``streamgmm.orchestration.batch_fit.batch_fit``) instead, so a
served run imports the installed package, never a file of the working directory.

Importing this package is light: the flow modules (and Prefect) load only when
one is imported by name.
"""

__all__ = ["FLOW_MODULES"]

#: Flow name -> the module defining it (the flow function has the flow's name).
FLOW_MODULES: dict[str, str] = {
    "batch_fit": "streamgmm.orchestration.batch_fit",
    "select_k": "streamgmm.orchestration.select_k",
    "score": "streamgmm.orchestration.score",
    "online_update": "streamgmm.orchestration.online_update",
}
