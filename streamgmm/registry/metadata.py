"""The schema of ``metadata.json``: frozen keyword-only classes, parsed at the boundary.

Why dataclasses and not pydantic: the schema is small and fixed, the registry
must report *which file* is bad (so parsing is wrapped anyway), and the core of
streamgmm stays free of a validation framework. Each rule lives in one
``__post_init__``; :func:`parse_metadata` only converts JSON types and calls the
constructors, so a file and a caller are held to exactly the same rules.

Schema version 1 (``metadata.json``)::

    schema_version      1
    name, version       model name and version number (>= 1)
    created_at          ISO 8601 UTC, e.g. "2026-05-01T12:00:00.123456Z"
    parent              {"name", "version"} of the version this one continues, or null
    covariance_type     "full" | "tied" | "diag" | "spherical"
    n_components (K), n_features (D), feature_names (D strings or null)
    dtype               dtype of the stored parameter arrays ("float64")
    training_config     the resolved training configuration (caller's dict)
    data_source         where the data came from, with a fingerprint (caller's dict)
    metrics             lower_bound, n_iter, converged, bic, aic, n_samples, extra
    stream_positions    offsets an online consumer resumes from (caller's dict) or null
    library_versions    {"python": ..., "numpy": ..., ...}
    files               {"parameters.npz": {"sha256": ..., "size": ...}}
    content_sha256      sha256 of this document's canonical JSON without this key

Schema version 2 adds, for a Bayesian mixture (a variational posterior) only::

    mixture             {"kind": "bayesian", "weight_concentration_prior_type": ...,
                         "components_in_use": int, "weight_threshold": float}

A Gaussian mixture's version is still written as schema 1 (without ``mixture``),
so earlier streamgmm keep reading it; a Bayesian one is schema 2, which they
refuse as "newer" instead of misreading it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from streamgmm.core.covariance import COVARIANCE_TYPES
from streamgmm.core.errors import InvalidParameterError
from streamgmm.registry.errors import ArtifactIntegrityError

from .jsonvalues import freeze_json, read_document, thaw_json, with_checksum
from .names import check_model_name

__all__ = [
    "METADATA_FILENAME",
    "PARAMETERS_FILENAME",
    "SCHEMA_VERSION",
    "FileRecord",
    "ModelMetadata",
    "ModelRef",
    "TrainingMetrics",
    "collect_library_versions",
    "encode_metadata",
    "format_timestamp",
    "parse_metadata",
    "parse_timestamp",
]

#: Highest metadata schema this code writes and reads.
SCHEMA_VERSION = 2
#: The schema of a version holding a variational posterior (``mixture`` present).
BAYESIAN_SCHEMA_VERSION = 2
#: The kinds of mixture a version holds; "gaussian" has no ``mixture`` record.
MIXTURE_KINDS = ("gaussian", "bayesian")
METADATA_FILENAME = "metadata.json"
PARAMETERS_FILENAME = "parameters.npz"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LIBRARIES = ("streamgmm", "numpy", "scipy", "scikit-learn")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidParameterError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``: ``2026-05-01T12:00:00.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Read a timestamp written by :func:`format_timestamp` (any ISO 8601 with an offset)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    """Checksum and size of one file of a model version.

    Parameters
    ----------
    sha256 : str
        Lower-case hex sha256 of the file's bytes.
    size : int
        Size in bytes.
    """

    sha256: str
    size: int

    def __post_init__(self) -> None:
        _require(
            isinstance(self.sha256, str) and bool(_SHA256.fullmatch(self.sha256)),
            f"sha256 must be 64 lower-case hex digits; got {self.sha256!r}",
        )
        _require(
            _is_int(self.size) and self.size >= 0, f"size must be an int >= 0; got {self.size!r}"
        )


@dataclass(frozen=True, kw_only=True)
class ModelRef:
    """A model version by name and number (used for lineage)."""

    name: str
    version: int

    def __post_init__(self) -> None:
        check_model_name(self.name)
        _require(
            _is_int(self.version) and self.version >= 1,
            f"version must be an int >= 1; got {self.version!r}",
        )

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, kw_only=True)
class TrainingMetrics:
    """How the fit went. Every field is optional (None when not measured).

    Parameters
    ----------
    lower_bound : float or None
        Final lower bound on the mean log-likelihood per sample (scikit-learn's
        ``lower_bound_``).
    n_iter : int or None
        EM iterations run (for online versions: batches folded in).
    converged : bool or None
        Whether the stopping criterion was met.
    bic, aic : float or None
        Information criteria on the training data.
    n_samples : int or None
        Samples the parameters were estimated from.
    extra : mapping, default empty
        Any further JSON-serialisable metrics, by name.
    """

    lower_bound: float | None = None
    n_iter: int | None = None
    converged: bool | None = None
    bic: float | None = None
    aic: float | None = None
    n_samples: int | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for name in ("lower_bound", "bic", "aic"):
            value = getattr(self, name)
            if value is not None:
                frozen = freeze_json(value, f"metrics.{name}")
                _require(
                    isinstance(frozen, (int, float)) and not isinstance(frozen, bool),
                    f"metrics.{name} must be a number or None; got {value!r}",
                )
                object.__setattr__(self, name, float(frozen))
        for name in ("n_iter", "n_samples"):
            value = getattr(self, name)
            if isinstance(value, np.integer):
                value = int(value)
                object.__setattr__(self, name, value)
            _require(
                value is None or (_is_int(value) and value >= 0),
                f"metrics.{name} must be an int >= 0 or None; got {value!r}",
            )
        converged = self.converged
        if isinstance(converged, np.bool_):
            object.__setattr__(self, "converged", bool(converged))
        _require(
            self.converged is None or isinstance(self.converged, bool),
            f"metrics.converged must be True, False or None; got {converged!r}",
        )
        _require(isinstance(self.extra, Mapping), "metrics.extra must be a mapping")
        object.__setattr__(self, "extra", freeze_json(self.extra, "metrics.extra"))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingMetrics:
        """Build from a dict; unknown keys are an error (put them under ``extra``)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidParameterError(
                f"Unknown metrics {unknown}; the known ones are {sorted(known - {'extra'})}. "
                "Put other metrics under 'extra', e.g. metrics={'extra': {'silhouette': 0.4}}."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all fields."""
        return {f.name: thaw_json(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _check_mixture(mixture: Any, n_components: int) -> None:
    """The rules of a Bayesian version's ``mixture`` record."""
    _require(isinstance(mixture, Mapping), f"mixture must be a dict; got {type(mixture).__name__}")
    keys = {"kind", "weight_concentration_prior_type", "components_in_use", "weight_threshold"}
    _require(set(mixture) == keys, f"mixture must have exactly the keys {sorted(keys)}; got {sorted(mixture)}")
    _require(mixture["kind"] == "bayesian", f"mixture kind must be 'bayesian'; got {mixture['kind']!r}")
    _require(
        mixture["weight_concentration_prior_type"] in ("dirichlet_process", "dirichlet_distribution"),
        "mixture weight_concentration_prior_type must be 'dirichlet_process' or "
        f"'dirichlet_distribution'; got {mixture['weight_concentration_prior_type']!r}",
    )
    used = mixture["components_in_use"]
    _require(
        _is_int(used) and 0 <= used <= n_components,
        f"mixture components_in_use must be an int from 0 to {n_components}; got {used!r}",
    )
    threshold = mixture["weight_threshold"]
    _require(
        isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0 <= threshold < 1,
        f"mixture weight_threshold must be a number in [0, 1); got {threshold!r}",
    )


def _freeze_optional_mapping(value: Any, where: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    _require(
        isinstance(value, Mapping), f"{where} must be a dict or None; got {type(value).__name__}"
    )
    return freeze_json(value, where)


@dataclass(frozen=True, kw_only=True)
class ModelMetadata:
    """Everything known about one model version except its arrays.

    Parameters
    ----------
    name : str
        Model name.
    version : int
        Version number, >= 1, allocated by the registry.
    created_at : datetime
        Publication time; stored in UTC.
    parent : ModelRef or None
        The version this one was trained from (warm start, online update), if any.
    covariance_type : {"full", "tied", "diag", "spherical"}
    n_components : int
        K.
    n_features : int
        D.
    feature_names : tuple of str of length D, or None
    dtype : str
        dtype of the stored parameter arrays.
    training_config : mapping
        The resolved training configuration (JSON data).
    data_source : mapping
        URIs, shapes, chunking and a content fingerprint of the training data (JSON data).
    metrics : TrainingMetrics
    stream_positions : mapping or None
        Stream offsets an online consumer resumes from.
    library_versions : mapping of str to str
    files : mapping of str to FileRecord
        Every file of the version except ``metadata.json``, with its checksum.
    mixture : mapping or None
        A Bayesian mixture's record (schema 2): ``kind`` "bayesian",
        ``weight_concentration_prior_type``, ``components_in_use`` (components
        whose expected weight reaches ``weight_threshold``), ``weight_threshold``.
        None for a Gaussian mixture.
    schema_version : int, default 1
        2 when ``mixture`` is given.
    """

    schema_version: int = 1
    name: str
    version: int
    created_at: datetime
    parent: ModelRef | None
    covariance_type: str
    n_components: int
    n_features: int
    feature_names: tuple[str, ...] | None
    dtype: str
    training_config: Mapping[str, Any]
    data_source: Mapping[str, Any]
    metrics: TrainingMetrics
    stream_positions: Mapping[str, Any] | None
    library_versions: Mapping[str, str]
    files: Mapping[str, FileRecord]
    mixture: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        _require(
            _is_int(self.schema_version) and 1 <= self.schema_version <= SCHEMA_VERSION,
            f"schema_version must be an int from 1 to {SCHEMA_VERSION}; "
            f"got {self.schema_version!r}",
        )
        check_model_name(self.name)
        _require(
            _is_int(self.version) and self.version >= 1,
            f"version must be an int >= 1; got {self.version!r}",
        )
        _require(
            isinstance(self.created_at, datetime) and self.created_at.tzinfo is not None,
            f"created_at must be a timezone-aware datetime; got {self.created_at!r}",
        )
        set_(self, "created_at", self.created_at.astimezone(UTC))
        _require(
            self.parent is None or isinstance(self.parent, ModelRef),
            f"parent must be a ModelRef or None; got {self.parent!r}",
        )
        _require(
            self.covariance_type in COVARIANCE_TYPES,
            f"covariance_type must be one of {COVARIANCE_TYPES}; got {self.covariance_type!r}",
        )
        for name in ("n_components", "n_features"):
            value = getattr(self, name)
            _require(_is_int(value) and value >= 1, f"{name} must be an int >= 1; got {value!r}")
        if self.feature_names is not None:
            names = tuple(self.feature_names)
            _require(
                all(isinstance(n, str) for n in names),
                "feature_names must all be strings",
            )
            _require(
                len(names) == self.n_features,
                f"feature_names has {len(names)} names but the model has "
                f"{self.n_features} features",
            )
            set_(self, "feature_names", tuple(str(n) for n in names))  # np.str_ -> str
        try:
            valid_dtype = isinstance(self.dtype, str) and np.dtype(self.dtype).name == self.dtype
        except TypeError:
            valid_dtype = False
        _require(
            valid_dtype, f"dtype must be a numpy dtype name such as 'float64'; got {self.dtype!r}"
        )
        for name in ("training_config", "data_source"):
            value = getattr(self, name)
            _require(
                isinstance(value, Mapping), f"{name} must be a dict; got {type(value).__name__}"
            )
            set_(self, name, freeze_json(value, name))
        _require(
            isinstance(self.metrics, TrainingMetrics),
            f"metrics must be TrainingMetrics; got {type(self.metrics).__name__}",
        )
        set_(
            self,
            "stream_positions",
            _freeze_optional_mapping(self.stream_positions, "stream_positions"),
        )
        _require(
            isinstance(self.library_versions, Mapping)
            and all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.library_versions.items()
            ),
            "library_versions must map names to version strings",
        )
        set_(self, "library_versions", MappingProxyType(dict(self.library_versions)))
        _require(isinstance(self.files, Mapping), "files must be a mapping")
        for filename, record in self.files.items():
            _require(
                isinstance(filename, str) and bool(_FILENAME.fullmatch(filename)),
                f"files has the entry {filename!r}, which is not a plain file name",
            )
            _require(isinstance(record, FileRecord), f"files[{filename!r}] must be a FileRecord")
        set_(self, "files", MappingProxyType(dict(self.files)))
        if self.mixture is not None:
            _check_mixture(self.mixture, self.n_components)
            _require(
                self.schema_version >= BAYESIAN_SCHEMA_VERSION,
                f"a Bayesian mixture's version needs schema_version {BAYESIAN_SCHEMA_VERSION}; "
                f"got {self.schema_version!r}",
            )
            set_(self, "mixture", freeze_json(self.mixture, "mixture"))

    @property
    def kind(self) -> str:
        """The kind of mixture: "gaussian" or "bayesian"."""
        return "gaussian" if self.mixture is None else str(self.mixture["kind"])

    @property
    def components_in_use(self) -> int:
        """Components whose weight reaches the version's weight threshold (all K if Gaussian)."""
        return self.n_components if self.mixture is None else int(self.mixture["components_in_use"])

    @property
    def parent_version(self) -> int | None:
        """Version number of the parent, or None (see ``parent`` for its model name)."""
        return None if self.parent is None else self.parent.version

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (without ``content_sha256``), keys in reading order."""
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "version": self.version,
            "created_at": format_timestamp(self.created_at),
            "parent": None
            if self.parent is None
            else {"name": self.parent.name, "version": self.parent.version},
            "covariance_type": self.covariance_type,
            "n_components": self.n_components,
            "n_features": self.n_features,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "dtype": self.dtype,
            "training_config": thaw_json(self.training_config),
            "data_source": thaw_json(self.data_source),
            "metrics": self.metrics.to_dict(),
            "stream_positions": thaw_json(self.stream_positions),
            "library_versions": dict(self.library_versions),
            "files": {
                name: {"sha256": record.sha256, "size": record.size}
                for name, record in sorted(self.files.items())
            },
            # Only when present: a Gaussian version's document stays schema 1's.
            **({} if self.mixture is None else {"mixture": thaw_json(self.mixture)}),
        }


def encode_metadata(metadata: ModelMetadata) -> bytes:
    """The bytes of ``metadata.json`` (indented JSON with ``content_sha256``)."""
    return with_checksum(metadata.to_dict())


_METADATA_REMEDY = (
    "The model version is damaged: restore its folder from a backup, or remove the folder and "
    "publish the model again."
)


def parse_metadata(data: bytes, *, source: str) -> ModelMetadata:
    """Read and verify the bytes of a ``metadata.json``.

    Parameters
    ----------
    data : bytes
        The file's contents.
    source : str
        Path or URL of the file, named in every error.

    Returns
    -------
    ModelMetadata

    Raises
    ------
    UnsupportedSchemaVersionError
        If the file was written with a newer (or an invalid) ``schema_version``.
    ArtifactIntegrityError
        If the file is not valid JSON, fails its content checksum, or breaks the schema.
    """
    document = read_document(
        data, source=source, supported_schema=SCHEMA_VERSION, remedy=_METADATA_REMEDY
    )
    try:
        return _metadata_from_document(document)
    except (InvalidParameterError, KeyError, TypeError, ValueError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ArtifactIntegrityError(
            f"{source} does not follow metadata schema {document['schema_version']}: {detail}. "
            f"{_METADATA_REMEDY}"
        ) from exc


def _metadata_from_document(document: dict[str, Any]) -> ModelMetadata:
    expected = {f.name for f in dataclasses.fields(ModelMetadata)}
    unknown = sorted(set(document) - expected)
    if unknown:
        raise InvalidParameterError(f"unknown keys {unknown}")
    parent = document["parent"]
    metrics = document["metrics"]
    if not isinstance(metrics, dict):
        raise InvalidParameterError("metrics must be an object")
    files = document["files"]
    if not isinstance(files, dict):
        raise InvalidParameterError("files must be an object")
    feature_names = document["feature_names"]
    return ModelMetadata(
        schema_version=document["schema_version"],
        name=document["name"],
        version=document["version"],
        created_at=parse_timestamp(document["created_at"]),
        parent=None if parent is None else ModelRef(**parent),
        covariance_type=document["covariance_type"],
        n_components=document["n_components"],
        n_features=document["n_features"],
        feature_names=None if feature_names is None else tuple(feature_names),
        dtype=document["dtype"],
        training_config=document["training_config"],
        data_source=document["data_source"],
        metrics=TrainingMetrics.from_mapping(metrics),
        stream_positions=document["stream_positions"],
        library_versions=document["library_versions"],
        files={name: FileRecord(**record) for name, record in files.items()},
        mixture=document.get("mixture"),
    )


def collect_library_versions() -> dict[str, str]:
    """Versions of Python, the platform and the libraries that shape a model's numbers."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for distribution in _LIBRARIES:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions
