"""``ModelRegistry``: publish, load, list, show, diff, promote and gc model versions.

A thin facade: it resolves names and references and delegates the file
protocols to :mod:`.publish` (atomic publish), :mod:`.maintenance` (aliases,
gc), :mod:`.metadata` and :mod:`.parameter_file` (formats).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamgmm.core.errors import InvalidParameterError
from streamgmm.core.params import MixtureParameters
from streamgmm.core.variational import (
    DEFAULT_WEIGHT_THRESHOLD,
    VariationalPosterior,
    VariationalPriors,
    components_in_use,
)
from streamgmm.core.variational_arrays import variational_arrays
from streamgmm.registry.errors import (
    ArtifactIntegrityError,
    ModelNotFoundError,
    ReadOnlyRegistryError,
    write_error,
)

from streamgmm.io.destinations import DestinationError, folder_entries, prepare_output_folder

from . import maintenance
from .diff import ParameterDiff, diff_parameters
from .jsonvalues import sha256_hex
from .layout import MODELS_DIRNAME, list_versions, read_aliases
from .locking import DEFAULT_LOCK_TIMEOUT
from .maintenance import GcReport
from .metadata import (
    BAYESIAN_SCHEMA_VERSION,
    METADATA_FILENAME,
    PARAMETERS_FILENAME,
    FileRecord,
    ModelMetadata,
    ModelRef,
    TrainingMetrics,
    collect_library_versions,
    parse_metadata,
)
from .names import LATEST, check_alias, check_model_name, parse_ref, version_dirname
from .parameter_file import decode_parameters, decode_variational, encode_parameters
from .publish import publish_version
from .storage import LocalStore, open_store
from .version import ModelVersion

__all__ = ["DEFAULT_STAGING_GRACE", "ModelRegistry"]

logger = logging.getLogger(__name__)

#: Seconds after which gc treats a staging folder as abandoned by a dead publisher.
DEFAULT_STAGING_GRACE = 3600.0

_DAMAGED = (
    "The model version is damaged: restore its folder from a backup, or remove the folder and "
    "publish the model again."
)


def _describe_versions(versions: list[int]) -> str:
    if not versions:
        return "none"
    if len(versions) > 8:
        return f"{len(versions)} versions from {versions[0]} to {versions[-1]}"
    return ", ".join(map(str, versions))


def is_registry_layout(root: Path) -> bool:
    """Whether ``root`` is an (unmarked) registry of an earlier streamgmm: only ``models/``.

    Such a root is adopted (the marker is added) on the next publish; a folder
    with anything else in it is refused (see :mod:`streamgmm.io.destinations`).
    """
    try:
        entries = folder_entries(root)
    except OSError:
        return False
    return entries == [MODELS_DIRNAME] and (root / MODELS_DIRNAME).is_dir()


class ModelRegistry:
    """Immutable, verifiable model versions with lineage, under one root.

    Parameters
    ----------
    root : str or path-like
        A local folder (created on first publish), a ``file://`` URL, or any
        fsspec URL such as ``s3://bucket/registry``. Registries behind URLs
        other than ``file://`` are read-only here (see :mod:`.storage`).
    storage_options : mapping, optional
        fsspec options (credentials, endpoint) for URL roots.
    lock_timeout : float, default 60
        Seconds a write waits for another process holding the model's lock.

    Notes
    -----
    Layout: ``<root>/models/<name>/<version>/{metadata.json,parameters.npz}``
    and ``<root>/models/<name>/aliases.json`` (see :mod:`.layout`).

    Examples
    --------
    >>> registry = ModelRegistry("/data/registry")            # doctest: +SKIP
    >>> v = registry.publish("speech", params, metrics={"n_iter": 12})  # doctest: +SKIP
    >>> registry.promote("speech", v.version, "production")   # doctest: +SKIP
    >>> registry.load("speech", "production").to_sklearn().predict(X)  # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, Any] | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self._store = open_store(root, storage_options)
        self._lock_timeout = float(lock_timeout)

    def __repr__(self) -> str:
        return f"ModelRegistry({self.root!r})"

    @property
    def root(self) -> str:
        """Path or URL of the registry's root."""
        return self._store.describe()

    @property
    def writable(self) -> bool:
        """Whether publish, promote and gc are possible here (local folders only)."""
        return self._store.writable

    def _writable_store(self, operation: str) -> LocalStore:
        if not isinstance(self._store, LocalStore):
            raise ReadOnlyRegistryError(
                f"Cannot {operation} in {self.root}: registries at URLs are read-only, since "
                "object stores lack the atomic rename and locks that make publishing safe. "
                "Write to a local or mounted folder, then copy it to the store."
            )
        return self._store

    # ---------------------------------------------------------------- reading
    def list_models(self) -> list[str]:
        """Names of the models that have at least one version, sorted."""
        names = []
        for entry in self._store.list_dir(MODELS_DIRNAME):
            try:
                check_model_name(entry)
            except InvalidParameterError:
                continue
            if list_versions(self._store, entry):
                names.append(entry)
        return names

    def list_versions(self, name: str) -> list[int]:
        """Visible version numbers of ``name``, ascending (empty for an unknown model)."""
        return list_versions(self._store, check_model_name(name))

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version number for model ``name`` (verified ``aliases.json``)."""
        return {
            alias: r.version
            for alias, r in read_aliases(self._store, check_model_name(name)).items()
        }

    def resolve(self, name: str, ref: int | str = LATEST) -> int:
        """The version number that ``ref`` (a number or an alias) names now.

        Raises
        ------
        ModelNotFoundError
            If the model, the version or the alias does not exist; the message
            lists what does.
        """
        name = check_model_name(name)
        target = parse_ref(ref)
        versions = list_versions(self._store, name)
        if not versions:
            raise ModelNotFoundError(
                f"No model named {name!r} in {self.root}; models there: "
                f"{', '.join(self.list_models()) or 'none'}."
            )
        if isinstance(target, int):
            if target not in versions:
                raise ModelNotFoundError(
                    f"Model {name!r} has no version {target} in {self.root}; its versions: "
                    f"{_describe_versions(versions)}."
                )
            return target
        aliases = read_aliases(self._store, name)
        if target in aliases:
            version = aliases[target].version
            if version not in versions:
                raise ModelNotFoundError(
                    f"Alias {target!r} of model {name!r} points to version {version}, which no "
                    f"longer exists in {self.root}; point it elsewhere with `promote`."
                )
            return version
        if target == LATEST:
            # Only before the first aliases.json is complete (a publisher killed
            # between its rename and its alias update): the newest version is latest.
            return versions[-1]
        raise ModelNotFoundError(
            f"Model {name!r} has no alias {target!r}; "
            f"its aliases: {', '.join(sorted(aliases)) or 'none'}."
        )

    def _where(self, name: str, version: int, *filename: str) -> str:
        """Path or URL of a version's folder, or of one of its files."""
        return self._store.describe(MODELS_DIRNAME, name, version_dirname(version), *filename)

    def _read_version_file(self, name: str, version: int, filename: str) -> bytes:
        parts = (MODELS_DIRNAME, name, version_dirname(version), filename)
        try:
            return self._store.read_bytes(*parts)
        except FileNotFoundError:
            if version not in list_versions(self._store, name):
                raise ModelNotFoundError(
                    f"Version {version} of model {name!r} was removed from {self.root} while "
                    "being read (garbage collection?)."
                ) from None
            raise ArtifactIntegrityError(
                f"{self._store.describe(*parts)} is missing. {_DAMAGED}"
            ) from None

    def _read_metadata(self, name: str, version: int) -> ModelMetadata:
        source = self._where(name, version, METADATA_FILENAME)
        metadata = parse_metadata(
            self._read_version_file(name, version, METADATA_FILENAME), source=source
        )
        if (metadata.name, metadata.version) != (name, version):
            raise ArtifactIntegrityError(
                f"{source} describes {metadata.name!r} version {metadata.version}, not {name!r} "
                f"version {version}: the folder was moved or copied by hand. {_DAMAGED}"
            )
        return metadata

    def show(self, name: str, ref: int | str = LATEST) -> ModelMetadata:
        """The verified metadata of a version (its parameter file is not read)."""
        return self._read_metadata(check_model_name(name), self.resolve(name, ref))

    def load(self, name: str, ref: int | str = LATEST) -> ModelVersion:
        """Load a version, verifying the schema and the checksum of every file.

        Parameters
        ----------
        name : str
            Model name.
        ref : int or str, default "latest"
            Version number or alias.

        Returns
        -------
        ModelVersion
            Parameters bitwise equal to those published.

        Raises
        ------
        ModelNotFoundError
            Unknown model, version or alias.
        ArtifactIntegrityError
            A file is missing, fails its sha256, or is malformed; the message names it.
        UnsupportedSchemaVersionError
            The version was written by a newer streamgmm.
        """
        name = check_model_name(name)
        version = self.resolve(name, ref)
        metadata = self._read_metadata(name, version)
        if PARAMETERS_FILENAME not in metadata.files:
            raise ArtifactIntegrityError(
                f"{self._where(name, version, METADATA_FILENAME)} lists no "
                f"{PARAMETERS_FILENAME}. {_DAMAGED}"
            )
        contents = {}
        for filename, record in metadata.files.items():
            data = self._read_version_file(name, version, filename)
            digest = sha256_hex(data)
            if len(data) != record.size or digest != record.sha256:
                raise ArtifactIntegrityError(
                    f"{self._where(name, version, filename)} failed verification: {len(data)} "
                    f"bytes with sha256 {digest}, but {METADATA_FILENAME} records {record.size} "
                    f"bytes with sha256 {record.sha256}. "
                    f"The file was altered or corrupted after publishing. {_DAMAGED}"
                )
            contents[filename] = data
        source = self._where(name, version, PARAMETERS_FILENAME)
        posterior = priors = None
        if metadata.mixture is not None:
            parameters, posterior, priors = decode_variational(
                contents[PARAMETERS_FILENAME],
                covariance_type=metadata.covariance_type,
                weight_concentration_prior_type=metadata.mixture["weight_concentration_prior_type"],
                source=source,
            )
        else:
            parameters = decode_parameters(
                contents[PARAMETERS_FILENAME], covariance_type=metadata.covariance_type, source=source
            )
        if (parameters.n_components, parameters.n_features) != (
            metadata.n_components,
            metadata.n_features,
        ):
            raise ArtifactIntegrityError(
                f"{source} holds {parameters.n_components} components in {parameters.n_features} "
                f"features, but {METADATA_FILENAME} says {metadata.n_components} in "
                f"{metadata.n_features}. {_DAMAGED}"
            )
        return ModelVersion(
            metadata=metadata,
            parameters=parameters,
            location=self._where(name, version),
            posterior=posterior,
            priors=priors,
        )

    def diff(
        self, name: str, ref_a: int | str, ref_b: int | str, *, name_b: str | None = None
    ) -> ParameterDiff:
        """Compare two versions' parameters, matching components (see :mod:`.diff`).

        Parameters
        ----------
        name : str
            Model of ``ref_a`` (and of ``ref_b`` unless ``name_b`` is given).
        ref_a, ref_b : int or str
            Version numbers or aliases.
        name_b : str, optional
            Model of ``ref_b``, to compare across models.
        """
        a = self.load(name, ref_a)
        b = self.load(name if name_b is None else name_b, ref_b)
        return diff_parameters(a.parameters, b.parameters)

    # ---------------------------------------------------------------- writing
    def publish(
        self,
        name: str,
        parameters: MixtureParameters | VariationalPosterior,
        *,
        priors: VariationalPriors | None = None,
        weight_threshold: float = DEFAULT_WEIGHT_THRESHOLD,
        parent_version: int | str | None = None,
        parent_name: str | None = None,
        feature_names: Sequence[str] | None = None,
        training_config: Mapping[str, Any] | None = None,
        data_source: Mapping[str, Any] | None = None,
        metrics: TrainingMetrics | Mapping[str, Any] | None = None,
        stream_positions: Mapping[str, Any] | None = None,
        aliases: str | Sequence[str] = (),
    ) -> ModelVersion:
        """Publish ``parameters`` as the next version of model ``name``.

        The version becomes visible complete or not at all, gets a number no
        other publisher gets, and ``latest`` moves to it.

        Parameters
        ----------
        name : str
            Model name (created on first publish).
        parameters : MixtureParameters or VariationalPosterior
            weights (K,), means (K, D), covariances, precisions_cholesky. For a
            fitted estimator pass ``from_sklearn(estimator)``. A variational
            posterior (a Bayesian mixture's) is published whole, with ``priors``;
            its version is of kind "bayesian" (metadata schema 2).
        priors : VariationalPriors, optional
            The posterior's priors (required with a posterior).
        weight_threshold : float, default 0.01
            A Bayesian version records its components in use: those whose
            expected weight reaches this.
        parent_version : int or str, optional
            Version (number or alias, resolved now) this one was trained from.
        parent_name : str, optional
            Model of the parent, if not ``name``.
        feature_names : sequence of D str, optional
        training_config : mapping, optional
            The resolved training configuration (JSON data).
        data_source : mapping, optional
            Training data description; include a fingerprint (e.g. ``{"uri": ...,
            "shape": [...], "chunks": [...], "sha256": ...}``).
        metrics : TrainingMetrics or mapping, optional
            ``lower_bound``, ``n_iter``, ``converged``, ``bic``, ``aic``,
            ``n_samples``, ``extra``.
        stream_positions : mapping, optional
            Offsets an online consumer resumes from.
        aliases : str or sequence of str, optional
            Aliases to point at the new version as part of the same update.

        Returns
        -------
        ModelVersion

        Raises
        ------
        InvalidParameterError
            Bad name, alias, feature names or non-JSON metadata, before anything is written.
        ModelNotFoundError
            If the parent does not exist.
        ReadOnlyRegistryError
            If the registry is at a URL.
        DestinationError
            If the root is not a registry streamgmm wrote (nor a new or empty folder), or
            lies under a plain file.
        RegistryWriteError
            If the filesystem refuses a write (read-only, full disk, file-size limit):
            nothing is published.
        """
        store = self._writable_store("publish")
        name = check_model_name(name)
        mixture: dict[str, Any] | None = None
        extra: dict[str, Any] | None = None
        posterior: VariationalPosterior | None = None
        if isinstance(parameters, VariationalPosterior):
            if priors is None:
                raise InvalidParameterError(
                    "publish of a variational posterior needs its priors= (VariationalPriors)."
                )
            posterior = parameters
            parameters = posterior.mixture
            extra = variational_arrays(posterior, priors)
            mixture = {
                "kind": "bayesian",
                "weight_concentration_prior_type": posterior.weight_concentration_prior_type,
                "components_in_use": components_in_use(parameters.weights, weight_threshold),
                "weight_threshold": float(weight_threshold),
            }
        elif not isinstance(parameters, MixtureParameters):
            raise InvalidParameterError(
                f"publish needs MixtureParameters or a VariationalPosterior, got "
                f"{type(parameters).__name__}; for a fitted estimator pass "
                "streamgmm.registry.from_sklearn(estimator)."
            )
        alias_list = [aliases] if isinstance(aliases, str) else list(aliases)
        alias_list = [check_alias(alias) for alias in alias_list]
        parent = None
        if parent_version is not None:
            parent_model = name if parent_name is None else check_model_name(parent_name)
            parent = ModelRef(name=parent_model, version=self.resolve(parent_model, parent_version))
        elif parent_name is not None:
            raise InvalidParameterError("parent_name was given without parent_version.")
        if isinstance(metrics, Mapping):
            metrics = TrainingMetrics.from_mapping(metrics)
        elif metrics is None:
            metrics = TrainingMetrics()
        payload = encode_parameters(parameters, extra)
        # Built in full now so that every rule is checked before a byte is written;
        # version and created_at are set under the lock at commit.
        draft = ModelMetadata(
            name=name,
            version=1,
            created_at=datetime.now(UTC),
            parent=parent,
            covariance_type=parameters.covariance_type,
            n_components=parameters.n_components,
            n_features=parameters.n_features,
            feature_names=None if feature_names is None else tuple(feature_names),
            dtype=parameters.means.dtype.name,
            training_config={} if training_config is None else training_config,
            data_source={} if data_source is None else data_source,
            metrics=metrics,
            stream_positions=stream_positions,
            library_versions=collect_library_versions(),
            files={PARAMETERS_FILENAME: FileRecord(sha256=sha256_hex(payload), size=len(payload))},
            mixture=mixture,
            schema_version=1 if mixture is None else BAYESIAN_SCHEMA_VERSION,
        )
        # Once the request is valid: the root is a folder streamgmm owns as a registry (or a new
        # or empty one) and can really be written; it carries the registry marker.
        try:
            prepare_output_folder(store.root, "registry", legacy=is_registry_layout)
        except DestinationError as exc:
            if not isinstance(exc.__cause__, OSError):
                raise  # not ours, or under a plain file: the destination rules say why
            # The filesystem refused the probe: the same error as a refused publish write.
            raise write_error(
                exc.__cause__, store.root,
                f"Nothing was published: the registry at {store.describe()} is as it was. {exc}",
            ) from exc
        metadata = publish_version(
            store,
            draft,
            {PARAMETERS_FILENAME: payload},
            aliases=alias_list,
            lock_timeout=self._lock_timeout,
        )
        location = store.describe(MODELS_DIRNAME, name, version_dirname(metadata.version))
        logger.info("Published %s:%d at %s", name, metadata.version, location)
        return ModelVersion(
            metadata=metadata, parameters=parameters, location=location,
            posterior=posterior, priors=priors if posterior is not None else None,
        )

    def promote(self, name: str, ref: int | str, alias: str) -> int:
        """Point ``alias`` at the version ``ref`` names, after verifying that version.

        Returns
        -------
        int
            The version the alias now names.
        """
        store = self._writable_store("promote")
        alias = check_alias(alias)
        version = self.load(name, ref).version  # never point production at a damaged version
        maintenance.set_aliases(store, name, {alias: version}, lock_timeout=self._lock_timeout)
        logger.info("Alias %s of %s now names version %d", alias, name, version)
        return version

    def remove_alias(self, name: str, alias: str) -> int:
        """Delete a user alias; returns the version it named. ``latest`` cannot be removed."""
        store = self._writable_store("remove an alias")
        return maintenance.remove_alias(
            store, check_model_name(name), check_alias(alias), lock_timeout=self._lock_timeout
        )

    def gc(
        self,
        name: str,
        *,
        keep_last: int,
        dry_run: bool = False,
        staging_grace: float = DEFAULT_STAGING_GRACE,
    ) -> GcReport:
        """Delete old versions: keep the newest ``keep_last`` and every aliased one.

        Also deletes staging folders abandoned by killed publishers (untouched
        for ``staging_grace`` seconds). See :func:`.maintenance.collect_garbage`.
        """
        store = self._writable_store("garbage-collect")
        report = maintenance.collect_garbage(
            store,
            check_model_name(name),
            keep_last=keep_last,
            dry_run=dry_run,
            staging_grace=staging_grace,
            lock_timeout=self._lock_timeout,
        )
        if report.removed and not report.dry_run:
            logger.info("Removed versions %s of %s", list(report.removed), name)
        return report
