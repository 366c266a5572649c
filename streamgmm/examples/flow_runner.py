"""Run the real flows (``batch_fit``, ``select_k``) on an example config, a few settings overridden.

An example's job (the model, the compute settings, which columns) is the YAML
file in ``configs/examples/``; the example script changes only what differs
between its runs: where its data and outputs are (``--work``), and, for a sweep,
``n_components``. The overridden config is validated again, as a file would be.

The flows are those of :mod:`streamgmm.orchestration` (the same functions the
``streamgmm`` commands run). The ``select_k`` flow reads its config from a file, so
the overridden config is written beside the example's data first: the example then
runs exactly what ``streamgmm select-k THAT_FILE`` runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import BatchFitConfig, SelectKConfig, load_config, parse_config, save_config
from ..core.params import MixtureParameters
from ..orchestration._command import ephemeral_startup_allowance
from ..orchestration._shared import quiet_logging
from ..orchestration.batch_fit import batch_fit_with_config
from ..orchestration.select_k import select_k
from ..registry import ModelRegistry
from .checkout import config_file

__all__ = [
    "FlowFit",
    "FlowSelection",
    "load_example_config",
    "load_example_select_k_config",
    "quiet_orchestration_logs",
    "run_batch_fit",
    "run_select_k",
]


@dataclass(frozen=True)
class FlowFit:
    """A finished ``batch_fit`` run and the model it published.

    Attributes
    ----------
    config : BatchFitConfig
        The config the flow ran with (after overrides).
    parameters : MixtureParameters
        The published parameters, loaded (and checksum-verified) from the registry.
    model, version : str, int
        The published model version.
    predictions : Path or None
        The predictions' Zarr group (labels, responsibilities, log_likelihood).
    result : streamgmm.orchestration.batch_fit.BatchFitResult
        Everything else the flow returned (metrics, plots, artifacts).
    """

    config: BatchFitConfig
    parameters: MixtureParameters
    model: str
    version: int
    predictions: Path | None
    result: Any


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_example_config(name: str, **overrides: Mapping[str, Any]) -> BatchFitConfig:
    """``configs/examples/<name>.yaml`` with sections overridden, validated again.

    Parameters
    ----------
    name : str
        The config's file name without ``.yaml``.
    **overrides : mapping
        Per section, the keys to replace, e.g. ``model={"n_components": 4}``.
        Relative paths in them are relative to the working directory.
    """
    path = config_file(name)
    config = load_config(path)
    if not overrides:
        return config
    # Paths of the loaded config are already absolute, so the dump validates anywhere.
    document = _merge(config.model_dump(mode="json"), overrides)
    return parse_config(document, "batch_fit", source=f"{path} (with example overrides)")


def quiet_orchestration_logs() -> None:
    """Keep Prefect's and Dask's warnings, not their progress lines."""
    quiet_logging()


def run_batch_fit(config: BatchFitConfig) -> FlowFit:
    """Run the ``batch_fit`` flow (``batch_fit_with_config``) and load the version it published.

    Without ``PREFECT_API_URL`` the flow runs on Prefect's ephemeral local API
    (started once per process; allowed up to 120 s, as a first start on a fresh
    machine creates its database).
    """
    with ephemeral_startup_allowance():
        result = batch_fit_with_config(config)
    version = ModelRegistry(config.registry.root).load(result.model, result.version)
    return FlowFit(
        config=config,
        parameters=version.parameters,
        model=result.model,
        version=result.version,
        predictions=None if result.predictions is None else Path(result.predictions),
        result=result,
    )


@dataclass(frozen=True)
class FlowSelection:
    """A finished ``select_k`` run and the winner it published.

    Attributes
    ----------
    config : SelectKConfig
        The config the flow ran with (after overrides).
    config_path : Path
        The file it was read from (written by :func:`run_select_k`).
    parameters : MixtureParameters
        The winner's published parameters, loaded (and checksum-verified) from the registry.
    model, version : str, int
        The published model version.
    selection : mapping
        The version's ``metrics.extra["selection"]``: the criterion, the winner and every
        candidate's BIC and AIC, as the registry stores them.
    result : streamgmm.orchestration.select_k.SelectKResult
        Everything else the flow returned (candidates, metrics, plots, artifacts).
    """

    config: SelectKConfig
    config_path: Path
    parameters: MixtureParameters
    model: str
    version: int
    selection: Mapping[str, Any]
    result: Any


def load_example_select_k_config(name: str, **overrides: Mapping[str, Any]) -> SelectKConfig:
    """``configs/examples/<name>.yaml`` read as a select_k config, sections overridden.

    Parameters
    ----------
    name : str
        The config's file name without ``.yaml``.
    **overrides : mapping
        Per section, the keys to replace, as for :func:`load_example_config`.
    """
    path = config_file(name)
    config = load_config(path, kind="select_k")
    if not overrides:
        return config
    document = _merge(config.model_dump(mode="json"), overrides)
    return parse_config(document, "select_k", source=f"{path} (with example overrides)")


def run_select_k(config: SelectKConfig, config_path: Path) -> FlowSelection:
    """Write ``config`` to ``config_path`` and run the ``select_k`` flow on that file.

    Parameters
    ----------
    config : SelectKConfig
        A validated config; its paths are absolute, so the file works from anywhere.
    config_path : Path
        The YAML file to write (parents created, replaced).

    Notes
    -----
    Prefect runs as in :func:`run_batch_fit` (ephemeral local API without
    ``PREFECT_API_URL``, up to 120 s to start it).
    """
    config_path = save_config(config, config_path)
    with ephemeral_startup_allowance():
        result = select_k(str(config_path))
    version = ModelRegistry(config.registry.root).load(result.model, result.version)
    return FlowSelection(
        config=config,
        config_path=config_path,
        parameters=version.parameters,
        model=result.model,
        version=result.version,
        selection=version.metadata.metrics.extra["selection"],
        result=result,
    )
