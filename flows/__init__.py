"""Prefect flows: thin orchestration over the streamgmm library.

Each flow reads a YAML config (``configs/``), calls the library in a few tasks
(retries on I/O only, no caching of arrays, Dask fanning out over chunks inside
a task) and records Prefect artifacts. Flows live in the repository, not in the
installed package: the library never imports them (only the flow commands of
``streamgmm.commands`` do, from the checkout), and deployments name them by file
(``flows/batch_fit.py:batch_fit``). Run one from the repository root::

    python -m flows.batch_fit configs/batch_fit.yaml
    streamgmm fit configs/batch_fit.yaml        # the same flow, from anywhere

``streamgmm fit | select-k | score`` import this package from the checkout
(:mod:`streamgmm.commands.project`); ``streamgmm serve`` serves the deployments
of ``prefect.yaml``. Shared pieces: ``_shared`` (retry rules, task options, common
tasks) and ``_command`` (running a flow as a command). Flow modules import them as
``flows._shared`` (absolute), which also works when Prefect loads a flow file as
a script from the repository root.
"""
