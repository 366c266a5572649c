"""The config schema: frozen, validated sections of a job's YAML.

Each section is a pydantic model with ``frozen=True`` and ``extra="forbid"``:
unknown keys are errors, values never change after loading, and every rule
lives in the field's declaration or one validator here. Numbers are strict
(``"10"`` is not an int, ``true`` is not a number): a YAML config should say
what it means. Paths go through :mod:`.paths` (``${VAR}``, ``~``, relative to
the config file), using the ``base_dir`` passed in the validation context.

A batch-fit config::

    data:
      uri: ../data/generated/example.zarr     # Zarr store or Parquet file/folder
      variable: X
    model:
      n_components: 6
      covariance_type: full
    compute:
      scheduler: local-cluster
      n_workers: 2
    registry:
      root: ../registry
      model: example
    outputs:
      predictions: ../data/generated/example-predictions.zarr
      overwrite: true
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streamgmm.core.domains import DOMAINS
from streamgmm.core.variational import DEFAULT_WEIGHT_THRESHOLD
from streamgmm.registry.location import locate_registry
from streamgmm.registry.names import check_alias, check_model_name

from .network import DEFAULT_HOST, check_host, dashboard_listen_address
from .paths import is_url, resolve_location

__all__ = [
    "SCHEDULER_NAMES",
    "BatchFitConfig",
    "CheckpointConfig",
    "ComputeConfig",
    "DataConfig",
    "ModelConfig",
    "OutputsConfig",
    "RegistryConfig",
    "SingleModelConfig",
    "domain_type",
]

#: Named schedulers; anything else must be the address of a running Dask scheduler.
SCHEDULER_NAMES: tuple[str, ...] = ("auto", "threads", "processes", "synchronous", "local-cluster")

PositiveInt = Annotated[int, Field(strict=True, ge=1)]


def domain_type(name: str) -> Any:
    """The config type of ``GaussianMixture`` parameter ``name``, from its one domain.

    Generated from :data:`streamgmm.core.domains.DOMAINS`, the table the estimator
    checks its parameters with, so a config accepts exactly the values the
    estimator does (``tests/flows/test_parameter_domains.py`` probes every shared
    key). Numbers get a validator calling the domain, so a refusal has the same
    words ("expected an integer >= 1"; reals are stored as float); choices become a
    ``Literal`` of the table's choices (pydantic lists the same values). ``None`` is
    never part of the type: a field that may be null says ``domain_type(...) | None``,
    and only where the domain allows None (a test checks this).
    """
    domain = DOMAINS[name]
    if domain.kind == "choice":
        return Literal[domain.choices]  # type: ignore[valid-type]

    def check(value: Any) -> Any:
        problem = domain.problem(value, yaml=True)
        if value is None or problem is not None:
            # None belongs to the "| None" of an optional field, never to this type.
            raise ValueError(problem or f"expected {domain.describe(yaml=True)}")
        return float(value) if domain.kind == "real" and not isinstance(value, bool) else value

    python_type: Any = {"int": int, "real": float, "bool": bool}[domain.kind]
    if domain.bool_too:
        python_type = bool | int
    return Annotated[python_type, BeforeValidator(check)]


_NComponents = domain_type("n_components")

_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*([kKMGT]i?)?[Bb]?\s*$")


def _base_dir(info: ValidationInfo) -> Path | None:
    context = info.context or {}
    base = context.get("base_dir")
    return None if base is None else Path(base)


def reports_folder(value: str, info: ValidationInfo) -> str:
    """An ``outputs.reports`` value resolved against the config file: a local folder, never a URL."""
    resolved = resolve_location(value, _base_dir(info))
    if is_url(resolved):
        raise ValueError("plots are written to a local folder; give a path, not a URL")
    return resolved


def _location(value: str | None, info: ValidationInfo) -> str | None:
    return None if value is None else resolve_location(value, _base_dir(info))


class _Section(BaseModel):
    """Common settings: frozen, unknown keys rejected, defaults validated too."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def is_given(self, name: str) -> bool:
        """Whether key ``name`` was set to something other than its default.

        A key at its default is no setting: a config written out whole (as
        ``streamgmm fit DATA`` saves the one it ran) repeats every key, and must
        validate again to the same config.
        """
        return (name in self.model_fields_set
                and getattr(self, name) != type(self).model_fields[name].default)


class DataConfig(_Section):
    """Where the rows come from.

    Parameters
    ----------
    uri : str
        Zarr store, Parquet file or folder of Parquet files: a local path (relative to
        the config file; ``${VAR}`` and ``~`` expanded) or an fsspec URL.
    format : {"auto", "zarr", "parquet"}, default "auto"
        "auto": Parquet for a ``.parquet`` path or a folder of ``.parquet`` files, Zarr
        otherwise.
    variable : str, optional
        Zarr array (or dataset variable) holding the rows; default the only 2-D one.
    columns : list of str, optional
        Parquet columns to use as features; default the features a file declares
        (``streamgmm datagen`` output: not its truth column ``label``), else all
        (they must be numeric).
    sample_dim, feature_dim : str, default "sample", "feature"
        Dimension names of a Zarr array (an array stored features-first is transposed).
    nan_policy : {"raise", "drop"}, default "raise"
        Rows with NaN or infinite values stop the fit, or are skipped and counted.
    """

    uri: Annotated[str, Field(strict=True)]
    format: Literal["auto", "zarr", "parquet"] = "auto"
    variable: Annotated[str, Field(strict=True, min_length=1)] | None = None
    columns: tuple[Annotated[str, Field(strict=True, min_length=1)], ...] | None = None
    sample_dim: Annotated[str, Field(strict=True, min_length=1)] = "sample"
    feature_dim: Annotated[str, Field(strict=True, min_length=1)] = "feature"
    nan_policy: domain_type("nan_policy") = "raise"  # type: ignore[valid-type]

    @field_validator("uri")
    @classmethod
    def _resolve_uri(cls, value: str, info: ValidationInfo) -> str:
        return resolve_location(value, _base_dir(info))

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"give a list of column names, e.g. [{value}]")
        return value

    @field_validator("columns")
    @classmethod
    def _columns_unique(
        cls, value: tuple[str, ...] | None, info: ValidationInfo
    ) -> tuple[str, ...] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("the list is empty; leave the key out to use every column")
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"column(s) {repeated} are listed twice; list each once")
        if info.data.get("format") == "zarr":
            raise ValueError(
                "columns select Parquet columns, but data.format is 'zarr'; "
                "use data.variable to choose a Zarr array"
            )
        return value

    @field_validator("variable")
    @classmethod
    def _variable_is_zarr(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("format") == "parquet":
            raise ValueError(
                "variable names a Zarr array, but data.format is 'parquet'; "
                "use data.columns to choose Parquet columns"
            )
        return value

    def open_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`streamgmm.open_rows` for this source."""
        return {
            "variable": self.variable,
            "columns": None if self.columns is None else list(self.columns),
            "sample_dim": self.sample_dim,
            "feature_dim": self.feature_dim,
            "format": None if self.format == "auto" else self.format,
        }


class ModelConfig(_Section):
    """The mixture and its EM settings (``streamgmm.GaussianMixture`` parameters).

    Parameters
    ----------
    n_components : int or list of int
        Components K, or candidate values for model selection (select_k).
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    tol : float >= 0, default 1e-3
    max_iter : int >= 1, default 100
    reg_covar : float >= 0, default 1e-6
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default "kmeans"
    n_init : int >= 1, default 1
    seed : int or null, default 0
        Seed of the initialisation; null draws a fresh one (the fit is then not
        reproducible). ``random_state`` is accepted as another name for it.
    dtype : {"float32", "float64"} or null, default null
        Compute dtype; null follows the data.
    chunk_size : int >= 1, default 16384
        Rows per unit of work for in-memory data (out-of-core data follow their
        storage chunks).
    init_sample_size : int >= 1 or null, default 100000
        Rows drawn for the initialisation; null initialises on every row exactly as
        scikit-learn does (all rows in memory once).
    """

    n_components: _NComponents | tuple[_NComponents, ...]  # type: ignore[valid-type]
    covariance_type: domain_type("covariance_type") = "full"  # type: ignore[valid-type]
    tol: domain_type("tol") = 1e-3  # type: ignore[valid-type]
    max_iter: domain_type("max_iter") = 100  # type: ignore[valid-type]
    reg_covar: domain_type("reg_covar") = 1e-6  # type: ignore[valid-type]
    init_params: domain_type("init_params") = "kmeans"  # type: ignore[valid-type]
    n_init: domain_type("n_init") = 1  # type: ignore[valid-type]
    seed: domain_type("random_state") | None = 0  # type: ignore[valid-type]
    dtype: domain_type("dtype") | None = None  # type: ignore[valid-type]
    chunk_size: domain_type("chunk_size") = 16384  # type: ignore[valid-type]
    init_sample_size: domain_type("init_sample_size") | None = 100_000  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _random_state_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "random_state" in data:
            if "seed" in data:
                raise ValueError(
                    "model.seed and model.random_state are the same setting; give only one"
                )
            data = dict(data)
            data["seed"] = data.pop("random_state")
        return data

    @field_validator("n_components", mode="before")
    @classmethod
    def _components(cls, value: Any) -> Any:
        domain = DOMAINS["n_components"]
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("the list of candidates is empty; give at least one integer")
            if not all(domain.contains(v) for v in value):
                raise ValueError(f"every candidate must be {domain.describe(yaml=True)}")
            if len(set(value)) != len(value):
                raise ValueError("a candidate is listed twice; list each once")
            return tuple(value)
        if not domain.contains(value):
            raise ValueError(
                f"give {domain.describe(yaml=True)} (e.g. 8) or a list of candidates "
                "(e.g. [4, 8, 16])"
            )
        return value

    @property
    def candidates(self) -> tuple[int, ...]:
        """The values of K to fit: one, or every candidate."""
        return self.n_components if isinstance(self.n_components, tuple) else (self.n_components,)

    def estimator_params(self, n_components: int | None = None) -> dict[str, Any]:
        """Constructor arguments of ``streamgmm.GaussianMixture`` (without nan_policy/scheduler).

        Parameters
        ----------
        n_components : int, optional
            The K to use; required when ``n_components`` lists candidates.
        """
        if n_components is None:
            if isinstance(self.n_components, tuple):
                raise ValueError("n_components lists candidates; say which one to fit")
            n_components = self.n_components
        return {
            "n_components": n_components,
            "covariance_type": self.covariance_type,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "reg_covar": self.reg_covar,
            "init_params": self.init_params,
            "n_init": self.n_init,
            "random_state": self.seed,
            "dtype": self.dtype,
            "chunk_size": self.chunk_size,
            "init_sample_size": self.init_sample_size,
        }


class ComputeConfig(_Section):
    """Where the data passes run.

    Parameters
    ----------
    scheduler : str, default "auto"
        "auto" (threads, or a local cluster for data of 1 GiB and more: see
        :func:`streamgmm.drivers.compute.choose_scheduler`), "threads", "processes",
        "synchronous", "local-cluster" (a ``distributed`` cluster on this machine,
        started and stopped with the job), or the address of a running Dask
        scheduler (e.g. ``tcp://10.0.0.5:8786``). The fitted model is the same on
        every one.
    n_workers : int >= 1, optional
        Workers of the local cluster (default 2), or threads of the "threads" pool
        (default: every core); with "auto", whichever it chooses.
    threads_per_worker : int >= 1, optional
        Threads per local-cluster worker (default 1).
    memory_limit : str or int, optional
        Memory per local-cluster worker: bytes, "4GB", "2GiB" or "auto".
    persist : {false, true, "auto"}, default false
        Hold the rows in the workers' memory (this process's, for "threads") from
        before the first EM pass instead of reading them on every pass; "auto" only
        when they take at most a quarter of that memory. See
        ``GaussianMixture(persist=...)``.
    host : str, optional
        Interface the local cluster's scheduler, workers and nannies listen on
        (local-cluster only). Default ``127.0.0.1``: reachable from this machine
        only. "0.0.0.0" exposes them (without authentication) to the network.
    dashboard_address : str or bool, optional
        The local cluster's dashboard: ``HOST:PORT``, ``:PORT`` (on ``host``), or
        false for none. Default: a free port on ``host``.
    """

    scheduler: Annotated[str, Field(strict=True, min_length=1)] = "auto"
    n_workers: PositiveInt | None = None
    threads_per_worker: PositiveInt | None = None
    memory_limit: str | int | None = None
    host: Annotated[str, Field(strict=True, min_length=1)] | None = None
    dashboard_address: (
        Annotated[str, Field(strict=True, min_length=1)] | Annotated[bool, Field(strict=True)] | None
    ) = None
    persist: Annotated[bool, Field(strict=True)] | Literal["auto"] = False

    def scheduler_params(self) -> dict[str, Any]:
        """Arguments of :func:`streamgmm.drivers.compute.compute_scheduler`."""
        return self.model_dump(exclude={"persist"})

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str) -> str:
        if value in SCHEDULER_NAMES or is_url(value):
            return value
        raise ValueError(
            f"choose one of {', '.join(repr(s) for s in SCHEDULER_NAMES)}, or give the address "
            "of a running Dask scheduler such as 'tcp://host:8786'"
        )

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and _MEMORY.match(value):
            return value.strip()
        raise ValueError("give a size such as 4GB, 2GiB or 500MB, a number of bytes, or 'auto'")

    @field_validator("n_workers")
    @classmethod
    def _workers_need_own_cluster(cls, value: int | None, info: ValidationInfo) -> int | None:
        scheduler = info.data.get("scheduler")
        if value is None or scheduler is None or scheduler in ("auto", "threads", "local-cluster"):
            return value
        if scheduler in SCHEDULER_NAMES:
            raise ValueError(
                f"applies to schedulers 'auto', 'threads' and 'local-cluster' only, but "
                f"compute.scheduler is {scheduler!r}; remove it"
            )
        raise ValueError(
            f"cannot be set for the running cluster at {scheduler}: its workers are managed "
            "where it was started; remove the key"
        )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return None if value is None else check_host(value)

    @field_validator("dashboard_address")
    @classmethod
    def _dashboard(cls, value: str | bool | None, info: ValidationInfo) -> str | bool | None:
        if isinstance(value, str):
            dashboard_listen_address(info.data.get("host") or DEFAULT_HOST, value)
        return value

    @field_validator("threads_per_worker", "memory_limit", "host", "dashboard_address")
    @classmethod
    def _local_cluster_only(cls, value: Any, info: ValidationInfo) -> Any:
        scheduler = info.data.get("scheduler")
        if value is not None and scheduler is not None and scheduler != "local-cluster":
            raise ValueError(
                f"applies to scheduler 'local-cluster' only, but compute.scheduler is "
                f"{scheduler!r}; remove it or use 'local-cluster'"
            )
        return value


class RegistryModelConfig(_Section):
    """A model in a registry: the ``root`` and ``model`` keys every registry section has.

    ``root`` is resolved against the config file's folder; without the key, the
    registry is found as every command finds it
    (:func:`~streamgmm.registry.location.locate_registry`: ``$STREAMGMM_REGISTRY``,
    else ``registry`` beside the config file). ``model`` must be a valid model name.
    Sections that publish (:class:`RegistryConfig`) or load a version (``score``'s)
    add their own keys.
    """

    # None only until validated: the validator always fills in the located root.
    root: Annotated[str, Field(strict=True)] | None = None
    model: Annotated[str, Field(strict=True)]

    @field_validator("root")
    @classmethod
    def _resolve_root(cls, value: str | None, info: ValidationInfo) -> str:
        if value is not None:
            return resolve_location(value, _base_dir(info))
        return locate_registry(default_base=_base_dir(info)).root

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return check_model_name(value)


class RegistryConfig(RegistryModelConfig):
    """Where the fitted model is published.

    Parameters
    ----------
    root : str, optional
        Registry folder (relative to the config file's folder) or a URL. Default
        ``$STREAMGMM_REGISTRY``, else ``registry`` beside the config file.
    model : str
        Model name: letters, digits, '.', '_' and '-'.
    aliases : list of str, default []
        Aliases to point at the new version (``latest`` always moves by itself).
    """

    aliases: tuple[Annotated[str, Field(strict=True)], ...] = ()

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            check_alias(alias)
        return value


class OutputsConfig(_Section):
    """What the job writes besides the model.

    Parameters
    ----------
    predictions : str, optional
        Zarr group to write labels, responsibilities and log-likelihoods to (a local
        path, relative to the config file). Not written when absent.
    overwrite : bool, default False
        Replace existing predictions (atomically) instead of failing.
    reports : str, default "reports"
        Local folder for the fit's plots (PNG, named after the model version),
        relative to the config file.
    """

    predictions: Annotated[str, Field(strict=True)] | None = None
    overwrite: Annotated[bool, Field(strict=True)] = False
    reports: Annotated[str, Field(strict=True)] = "reports"

    @field_validator("reports")
    @classmethod
    def _resolve_reports(cls, value: str, info: ValidationInfo) -> str:
        return reports_folder(value, info)

    @field_validator("predictions")
    @classmethod
    def _resolve_predictions(cls, value: str | None, info: ValidationInfo) -> str | None:
        resolved = _location(value, info)
        if resolved is not None and is_url(resolved) and not resolved.startswith("file://"):
            raise ValueError("predictions are written to a local folder; give a path, not a URL")
        return resolved


class CheckpointConfig(_Section):
    """Resumable fits.

    Parameters
    ----------
    folder : str, optional
        Folder for the EM checkpoint (relative to the config file); a job started
        again after a crash resumes from the last completed iteration.
    """

    folder: Annotated[str, Field(strict=True)] | None = None

    @field_validator("folder")
    @classmethod
    def _resolve_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _location(value, info)


_FiniteReal = Annotated[float, Field(allow_inf_nan=False)]


class SingleModelConfig(ModelConfig):
    """:class:`ModelConfig` for jobs that fit one mixture: ``n_components`` is one integer.

    Parameters
    ----------
    kind : {"gaussian", "bayesian"}, default "gaussian"
        ``GaussianMixture`` (maximum likelihood) or ``BayesianGaussianMixture``
        (variational Bayes: ``n_components`` is an upper bound and the prior
        switches off the components the data do not need).
    weight_concentration_prior_type, weight_concentration_prior, mean_precision_prior,
    mean_prior, degrees_of_freedom_prior, covariance_prior, weight_threshold
        ``BayesianGaussianMixture``'s priors and threshold (null: scikit-learn's
        defaults from the data); only with ``kind: bayesian``. Array priors are
        checked against the data's number of features before any pass.
    """

    n_components: _NComponents  # type: ignore[valid-type]
    kind: Literal["gaussian", "bayesian"] = "gaussian"
    weight_concentration_prior_type: domain_type("weight_concentration_prior_type") = "dirichlet_process"  # type: ignore[valid-type]
    weight_concentration_prior: domain_type("weight_concentration_prior") | None = None  # type: ignore[valid-type]
    mean_precision_prior: domain_type("mean_precision_prior") | None = None  # type: ignore[valid-type]
    mean_prior: tuple[_FiniteReal, ...] | None = None
    degrees_of_freedom_prior: _FiniteReal | None = None
    covariance_prior: Any = None
    weight_threshold: domain_type("weight_threshold") = DEFAULT_WEIGHT_THRESHOLD  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _bayesian_keys_need_the_bayesian_kind(self) -> "SingleModelConfig":
        if self.kind == "gaussian":
            given = sorted(name for name in BAYESIAN_MODEL_KEYS if self.is_given(name))
            if given:
                raise ValueError(
                    f"model.{given[0]} is a setting of the Bayesian mixture; set model.kind: "
                    "bayesian to use it, or remove it for a Gaussian mixture"
                )
        return self

    @field_validator("covariance_prior", mode="before")
    @classmethod
    def _covariance_prior_shape(cls, value: Any) -> Any:
        """A number, a list of numbers or a list of equally long lists of numbers (finite)."""
        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if value is None or number(value):
            return value
        if isinstance(value, (list, tuple)) and value and all(number(v) for v in value):
            return tuple(float(v) for v in value)
        if (
            isinstance(value, (list, tuple)) and value
            and all(isinstance(row, (list, tuple)) and len(row) == len(value) for row in value)
            and all(number(v) for row in value for v in row)
        ):
            return tuple(tuple(float(v) for v in row) for row in value)
        raise ValueError(
            "expected null (the data's covariance), a positive number (spherical), a list of D "
            "positive numbers (diag) or a D x D list of lists, symmetric positive definite "
            "(full, tied)"
        )

    def bayesian_params(self) -> dict[str, Any]:
        """``BayesianGaussianMixture``'s own constructor arguments (empty for a Gaussian mixture)."""
        if self.kind == "gaussian":
            return {}
        return {
            "weight_concentration_prior_type": self.weight_concentration_prior_type,
            "weight_concentration_prior": self.weight_concentration_prior,
            "mean_precision_prior": self.mean_precision_prior,
            "mean_prior": None if self.mean_prior is None else list(self.mean_prior),
            "degrees_of_freedom_prior": self.degrees_of_freedom_prior,
            "covariance_prior": _plain(self.covariance_prior),
            "weight_threshold": self.weight_threshold,
        }

    def estimator_params(self, n_components: int | None = None) -> dict[str, Any]:
        """Constructor arguments of the estimator of ``kind`` (without nan_policy/scheduler)."""
        return {**super().estimator_params(n_components), **self.bayesian_params()}

    @field_validator("n_components", mode="before")
    @classmethod
    def _components(cls, value: Any) -> Any:
        domain = DOMAINS["n_components"]
        if isinstance(value, (list, tuple)):
            raise ValueError(
                f"this job fits one mixture, so give one number, {domain.describe(yaml=True)}; "
                "choosing among candidates is the select_k job"
            )
        if not domain.contains(value):
            raise ValueError(f"give {domain.describe(yaml=True)} (e.g. 8)")
        return value


#: The Bayesian mixture's keys of a model section (refused with ``kind: gaussian``).
BAYESIAN_MODEL_KEYS: tuple[str, ...] = (
    "weight_concentration_prior_type", "weight_concentration_prior", "mean_precision_prior",
    "mean_prior", "degrees_of_freedom_prior", "covariance_prior", "weight_threshold", "total_samples",
)


def _plain(value: Any) -> Any:
    """Tuples of a config value as lists (what the estimator takes as array-like)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class BatchFitConfig(_Section):
    """A ``batch_fit`` job: read, fit one mixture out of core, publish, predict.

    Sections: ``data``, ``model`` and ``registry`` are required; ``compute``,
    ``outputs`` and ``checkpoint`` have defaults (threads, nothing written,
    no checkpoint).
    """

    data: DataConfig
    model: SingleModelConfig
    # Defaults are built from {} at validation time, so that their relative paths are
    # resolved against this config's folder, not the working directory at import.
    compute: ComputeConfig = Field(default_factory=dict)  # type: ignore[arg-type]
    registry: RegistryConfig
    outputs: OutputsConfig = Field(default_factory=dict)  # type: ignore[arg-type]
    checkpoint: CheckpointConfig = Field(default_factory=dict)  # type: ignore[arg-type]
