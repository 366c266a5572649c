"""The ``online_update`` job's config: a stream source, the online model, and its bounds.

Example (a landing folder; ``configs/stream_sensors.yaml`` and ``configs/stream_speech.yaml``
are complete, commented ones)::

    source:
      kind: landing-folder                 # landing-folder | zarr-append | stdin | kafka | redis | nats | mqtt
      uri: ../data/generated/landing       # the folder, or the Zarr store
    model:
      n_components: 8
      covariance_type: diag
      seed: 0
      start_from: {model: example, ref: latest}   # optional: else warm up on the stream
    online:
      batch_size: 1000
      state: ../data/generated/stream-state       # one folder per stream
      step: {decay: 0.7, offset: 2.0}             # or {constant: 0.05}
      max_batches: 500                            # bounds of one run (all optional)
      snapshot: {every_batches: 100}
      drift: {detector: page-hinkley, on_alarm_step_size: 0.1}
      anomaly: {quantile: 0.01}
    registry: {root: ../registry, model: stream, aliases: [online]}
    outputs: {scores: ../data/generated/stream-scores.zarr, reports: ../reports}

A broker source (see :class:`StreamSourceConfig` and
:mod:`streamgmm.online.brokers`)::

    source:
      kind: kafka
      bootstrap_servers: 127.0.0.1:9092
      topic: sensors
      format: binary                       # json | binary | arrow
      dead_letter: {topic: sensors-dead}   # or {folder: ...}; default <online.state>/dead-letters
      wait_for_broker: 30                  # seconds; without it, a broker down at start is an error
      credentials: {username_env: KAFKA_USER, password_env: KAFKA_PASSWORD}   # variable NAMES

Relative paths are relative to the config file; unknown keys are errors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import re

from pydantic import (
    Field,
    NonNegativeInt,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .paths import is_url, resolve_location
from .schema import (
    RegistryConfig,
    SingleModelConfig,
    _base_dir,
    _Section,
    domain_type,
    reports_folder,
)

__all__ = [
    "AnomalySettings",
    "BROKER_KINDS",
    "BrokerCredentials",
    "BrokerTLS",
    "DeadLetterConfig",
    "DriftSettings",
    "OnlineModelConfig",
    "OnlineSettings",
    "OnlineUpdateConfig",
    "SnapshotSettings",
    "StartFromConfig",
    "StepSettings",
    "StreamOutputsConfig",
    "StreamSourceConfig",
]

_Name = Annotated[str, Field(strict=True, min_length=1)]
_Path = Annotated[str, Field(strict=True)]

#: Source kinds read from a message broker (:mod:`streamgmm.online.brokers`).
BROKER_KINDS = ("kafka", "redis", "nats", "mqtt")
#: Which key names the broker's address, and which the stream, per broker kind.
_ADDRESS_KEY = {"kafka": "bootstrap_servers", "redis": "url", "nats": "url", "mqtt": "url"}
_STREAM_KEY = {"kafka": "topic", "redis": "stream", "nats": "stream", "mqtt": "topic"}
#: Where a broker sends dead letters natively (besides a folder).
_DEAD_LETTER_KEY = {"kafka": "topic", "redis": "stream", "nats": "subject", "mqtt": "topic"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _resolve_local(value: str | None, info: ValidationInfo) -> str | None:
    """A local path resolved against the config's folder (URLs refused)."""
    if value is None:
        return None
    resolved = resolve_location(value, _base_dir(info))
    if is_url(resolved) and not resolved.startswith("file://"):
        raise ValueError("give a local path, not a URL")
    return resolved


class DeadLetterConfig(_Section):
    """Where undecodable broker messages go: exactly one of the four.

    Parameters
    ----------
    folder : str, optional
        A folder: ``<address>.msg`` plus ``<address>.json`` (reason, position) per message.
    topic : str, optional
        A Kafka or MQTT topic.
    stream : str, optional
        A Redis stream.
    subject : str, optional
        A NATS subject.
    """

    folder: _Path | None = None
    topic: _Name | None = None
    stream: _Name | None = None
    subject: _Name | None = None

    @field_validator("folder")
    @classmethod
    def _resolve_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _resolve_local(value, info)

    @model_validator(mode="after")
    def _exactly_one(self) -> "DeadLetterConfig":
        given = [name for name in ("folder", "topic", "stream", "subject") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of folder, topic (Kafka, MQTT), stream (Redis) or subject (NATS)"
                + (f"; got {', '.join(given)}" if given else "")
            )
        return self

    @property
    def destination(self) -> tuple[str, str]:
        """``(kind, value)`` of the one destination given."""
        for name in ("folder", "topic", "stream", "subject"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise AssertionError("validated: one destination")


class BrokerCredentials(_Section):
    """Credentials as the NAMES of environment variables (never the secrets themselves).

    Parameters
    ----------
    username_env, password_env, token_env : str, optional
        Names of variables holding the user name, the password, a token. The
        variables are read when the stream starts; an unset one is an error
        naming its key.
    """

    username_env: _Name | None = None
    password_env: _Name | None = None
    token_env: _Name | None = None

    @field_validator("username_env", "password_env", "token_env")
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "this is not an environment variable name (letters, digits, _). Give the "
                "NAME of a variable that holds the secret (e.g. KAFKA_PASSWORD), never the secret"
            )
        return value


class BrokerTLS(_Section):
    """TLS options passed to the broker client.

    Parameters
    ----------
    ca_file, cert_file, key_file : str, optional
        PEM files (relative to the config file).
    verify : bool, default True
        Verify the broker's certificate.
    """

    ca_file: _Path | None = None
    cert_file: _Path | None = None
    key_file: _Path | None = None
    verify: Annotated[bool, Field(strict=True)] = True

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _resolve_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _resolve_local(value, info)


class StreamSourceConfig(_Section):
    """Where the batches come from.

    Parameters
    ----------
    kind : {"landing-folder", "zarr-append", "stdin", "kafka", "redis", "nats", "mqtt"}
    uri : str, optional
        The landing folder or the Zarr store (not for stdin and brokers).
    variable : str, optional
        Zarr array name (store, or ``.zarr`` files in a landing folder).
    columns : list of str, optional
        Parquet feature columns for ``.parquet`` files in a landing folder, or the
        Arrow columns of broker messages in ``format: arrow``.
    sample_dim, feature_dim : str
        Dimension names of a Zarr store written by xarray.
    quarantine : str, optional
        Where unreadable landing files go; default ``<uri>/quarantine``.

    Broker kinds (:mod:`streamgmm.online.brokers`):

    bootstrap_servers : str
        Kafka: ``host:port[,host:port...]``.
    url : str
        Redis (``redis://host:port/db``), NATS (``nats://host:port``), MQTT
        (``mqtt://host:port``).
    topic, stream, subject : str
        What is read: a Kafka or MQTT topic, a Redis or NATS JetStream stream
        (and a NATS subject filter).
    partitions : list of int, optional
        Kafka: the partitions read (default all of the topic's).
    format : {"json", "binary", "arrow"}, default "binary"
        The messages' format (:mod:`streamgmm.online.messages`).
    group, client_id : str, optional
        Consumer group / client id where the broker uses one (positions are
        never taken from the broker: the runner's state holds them).
    dead_letter : DeadLetterConfig, optional
        Default: the folder ``dead-letters`` inside ``online.state``.
    wait_for_broker : float, optional
        Seconds to wait for a broker that is down at start (else: a clear error).
    reconnect_seconds : float or None, default 300
        How long a lost connection is retried during a run (null: forever).
    credentials : BrokerCredentials, optional
        Names of environment variables holding the secrets.
    tls : BrokerTLS, optional
    spool : str, optional
        MQTT: the folder where received messages are kept until committed
        (default ``<online.state>/mqtt-spool``); see :mod:`streamgmm.online.brokers.mqtt`.
    """

    kind: Literal["landing-folder", "zarr-append", "stdin", "kafka", "redis", "nats", "mqtt"]
    uri: _Path | None = None
    variable: _Name | None = None
    columns: tuple[_Name, ...] | None = None
    sample_dim: _Name = "sample"
    feature_dim: _Name = "feature"
    quarantine: _Path | None = None
    # ---- broker kinds
    bootstrap_servers: _Name | None = None
    url: _Name | None = None
    topic: _Name | None = None
    stream: _Name | None = None
    subject: _Name | None = None
    partitions: tuple[NonNegativeInt, ...] | None = None
    format: Literal["json", "binary", "arrow"] = "binary"
    group: _Name | None = None
    client_id: _Name | None = None
    dead_letter: DeadLetterConfig | None = None
    wait_for_broker: NonNegativeFloat | None = None
    reconnect_seconds: PositiveFloat | None = 300.0
    credentials: BrokerCredentials | None = None
    tls: BrokerTLS | None = None
    spool: _Path | None = None

    #: Keys that only broker kinds take (an error with the other kinds).
    _BROKER_ONLY = (
        "bootstrap_servers", "url", "topic", "stream", "subject", "partitions", "group", "client_id",
        "dead_letter", "wait_for_broker", "credentials", "tls", "spool",
    )

    @property
    def is_broker(self) -> bool:
        """Whether the source is a message broker."""
        return self.kind in BROKER_KINDS

    @property
    def address_key(self) -> str:
        """The key naming the broker's address (``bootstrap_servers`` or ``url``)."""
        return _ADDRESS_KEY[self.kind]

    @property
    def address(self) -> str:
        """The broker's address as configured."""
        return getattr(self, self.address_key)

    @field_validator("spool")
    @classmethod
    def _resolve_spool(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _resolve_local(value, info)

    @field_validator("uri", "quarantine")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        resolved = resolve_location(value, _base_dir(info))
        if is_url(resolved) and not resolved.startswith("file://"):
            raise ValueError("stream sources are local folders or stores; give a path, not a URL")
        return resolved

    @model_validator(mode="after")
    def _uri_matches_kind(self) -> "StreamSourceConfig":
        if self.is_broker:
            return self._broker_keys()
        broker_keys = [name for name in self._BROKER_ONLY if getattr(self, name) is not None]
        if broker_keys:
            raise ValueError(
                f"source.{broker_keys[0]} is for broker kinds ({', '.join(BROKER_KINDS)}), not {self.kind!r}"
            )
        if self.is_given("format"):
            raise ValueError(f"source.format is the message format of broker kinds, not of {self.kind!r}")
        if self.kind == "stdin" and self.uri is not None:
            raise ValueError("source.uri is not used with kind 'stdin'; remove it")
        if self.kind != "stdin" and self.uri is None:
            raise ValueError(f"source.uri is required for kind {self.kind!r} (the folder or the store)")
        if self.columns is not None and self.kind != "landing-folder":
            raise ValueError(
                "source.columns selects Parquet columns of landing-folder files, or Arrow columns of "
                "broker messages (format: arrow)"
            )
        return self

    def _broker_keys(self) -> "StreamSourceConfig":
        """The keys a broker kind needs, and none it does not use."""
        kind = self.kind
        for name in ("uri", "variable", "quarantine"):
            if getattr(self, name) is not None:
                hint = " (undecodable messages go to source.dead_letter)" if name == "quarantine" else ""
                raise ValueError(f"source.{name} is not used with kind {kind!r}; remove it{hint}")
        address_key, stream_key = _ADDRESS_KEY[kind], _STREAM_KEY[kind]
        if getattr(self, address_key) is None:
            example = "127.0.0.1:9092" if kind == "kafka" else f"{kind}://127.0.0.1:PORT"
            raise ValueError(f"source.{address_key} is required for kind {kind!r} (e.g. {example})")
        other_address = "url" if address_key == "bootstrap_servers" else "bootstrap_servers"
        if getattr(self, other_address) is not None:
            raise ValueError(f"kind {kind!r} takes source.{address_key}, not source.{other_address}")
        if getattr(self, stream_key) is None:
            raise ValueError(f"source.{stream_key} is required for kind {kind!r} (what is read)")
        allowed = {stream_key} | ({"subject"} if kind == "nats" else set())
        for name in ("topic", "stream", "subject"):
            if name not in allowed and getattr(self, name) is not None:
                raise ValueError(f"source.{name} is not used with kind {kind!r}; it reads source.{stream_key}")
        if self.spool is not None and kind != "mqtt":
            raise ValueError("source.spool is the MQTT consumer's spool folder; remove it")
        if kind == "mqtt" and self.client_id is None:
            raise ValueError(
                "source.client_id is required for kind 'mqtt': the persistent session's id, the same "
                "for every run of this stream (e.g. client_id: streamgmm-sensors)"
            )
        if self.partitions is not None and kind != "kafka":
            raise ValueError("source.partitions are Kafka partitions; remove it")
        if self.columns is not None and self.format != "arrow":
            raise ValueError("source.columns selects Arrow columns; it needs format: arrow")
        if self.dead_letter is not None:
            where, _ = self.dead_letter.destination
            if where not in ("folder", _DEAD_LETTER_KEY[kind]):
                raise ValueError(
                    f"source.dead_letter.{where} is not a {kind} destination: give "
                    f"dead_letter.{_DEAD_LETTER_KEY[kind]} or dead_letter.folder"
                )
        return self


class StartFromConfig(_Section):
    """A model version to start the stream from (instead of a warm-up).

    Parameters
    ----------
    model : str
        Model name in the registry.
    ref : int or str, default "latest"
        Version number or alias.
    root : str, optional
        Registry folder; default the ``registry.root`` of this config.
    """

    model: _Name
    ref: int | _Name = "latest"
    root: Annotated[str, Field(strict=True)] | None = None

    @field_validator("root")
    @classmethod
    def _resolve_root(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_location(value, _base_dir(info))


class OnlineModelConfig(SingleModelConfig):
    """The model: as for batch fits, plus where the stream starts from.

    Parameters
    ----------
    warm_up_size : int, optional
        Rows fitted by batch EM before stepping (default ``10 * K * D``).
    start_from : StartFromConfig, optional
    total_samples : float, optional
        ``kind: bayesian`` only: the data size ``N`` each SVI step scales a batch
        to (default: the rows seen so far; a number keeps the posterior at a
        window of about that many rows).
    """

    warm_up_size: domain_type("warm_up_size") | None = None  # type: ignore[valid-type]
    start_from: StartFromConfig | None = None
    total_samples: domain_type("total_samples") | None = None  # type: ignore[valid-type]

    def bayesian_params(self) -> dict[str, Any]:
        """As for batch fits, plus SVI's effective data size ``total_samples``."""
        params = super().bayesian_params()
        if params:
            params["total_samples"] = self.total_samples
        return params


class StepSettings(_Section):
    """Step sizes of stepwise EM: ``(t + offset)^-decay``, or a constant.

    Parameters
    ----------
    decay : float, default 0.7
        In (0.5, 1].
    offset : float, default 2.0
    constant : float, optional
        A constant step in (0, 1] (forgetting window about ``1/constant`` batches).
    average : bool or int, default False
        Polyak-Ruppert averaging (an int starts after that many batches).
    """

    # The estimator's step_decay, step_offset, step_size and average: one domain each.
    decay: domain_type("step_decay") = 0.7  # type: ignore[valid-type]
    offset: domain_type("step_offset") = 2.0  # type: ignore[valid-type]
    constant: domain_type("step_size") | None = None  # type: ignore[valid-type]
    average: domain_type("average") = False  # type: ignore[valid-type]


class SnapshotSettings(_Section):
    """When a model version is published (at least one of the two, or only at the end).

    Parameters
    ----------
    every_batches : int, optional, default 100
    every_seconds : float, optional
    at_end : bool, default True
        Publish when the run stops if anything changed since the last version.
    """

    every_batches: PositiveInt | None = 100
    every_seconds: PositiveFloat | None = None
    at_end: Annotated[bool, Field(strict=True)] = True


class DriftSettings(_Section):
    """Change detection on the mean log-likelihood of each batch (scored before the update).

    Parameters
    ----------
    detector : {"page-hinkley", "adwin"}
    delta, threshold, min_samples, window : optional
        Page-Hinkley's tolerance and alarm threshold (in units of the batch
        score's standard deviation), warm-up (batches) and the memory of its
        reference level (batches; shorter follows an improving model more
        closely); ADWIN uses ``delta`` as its confidence.
    on_alarm_step_size : float, optional
        Switch to this constant step size after an alarm (adapt faster).
    """

    detector: Literal["page-hinkley", "adwin"] = "page-hinkley"
    delta: PositiveFloat | None = None
    threshold: PositiveFloat | None = None
    min_samples: PositiveInt | None = None
    window: PositiveInt | None = None
    on_alarm_step_size: domain_type("step_size") | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _options_of_the_detector(self) -> "DriftSettings":
        if self.detector == "adwin":
            extra = [
                name for name in ("threshold", "min_samples", "window") if getattr(self, name) is not None
            ]
            if extra:
                raise ValueError(
                    f"{' and '.join(extra)} belong to the page-hinkley detector; ADWIN takes only "
                    "delta (its confidence, e.g. 0.002)"
                )
        return self

    def detector_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"kind": self.detector}
        for name in ("delta", "threshold", "min_samples", "window"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        return options


class AnomalySettings(_Section):
    """Which samples are flagged: below a quantile of the warm-up scores, or a fixed value."""

    quantile: Annotated[float, Field(gt=0.0, lt=1.0)] | None = 0.01
    threshold: float | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> "AnomalySettings":
        if self.threshold is not None and "quantile" in self.model_fields_set:
            raise ValueError("give anomaly.quantile or anomaly.threshold, not both")
        return self


class OnlineSettings(_Section):
    """How the stream is consumed.

    Parameters
    ----------
    batch_size : int, default 1000
    state : str
        Folder of the runner's committed state (one per stream).
    nan_policy : {"raise", "drop"}, default "raise"
    step : StepSettings
    max_batches, max_seconds : optional
        Bounds of one run.
    idle_seconds : float, optional, default 0
        Stop after this long without a new batch; null waits forever.
    poll_seconds : float, default 1.0
    drain : bool, default False
        Take a final incomplete batch when the source has nothing more.
    on_source_change : {"refuse", "reset"}, default "refuse"
        A stream position belongs to one source. When the runner resumes and finds
        the source replaced, rewritten or shortened: "refuse" stops with both
        identities named; "reset" keeps the learnt model and reads the source
        from its beginning (``streamgmm stream --reset-source`` for one run).
    fsync : bool, default True
        Make each commit durable against power loss and OS crashes. ``false`` keeps
        exactly-once under ``kill -9`` (the atomic rename stays) and saves the two
        fsyncs that dominate a commit's cost; after an OS crash the stream may
        resume from an earlier commit.
    snapshot : SnapshotSettings
    drift : DriftSettings, optional (null disables)
    anomaly : AnomalySettings, optional (null disables)
    """

    batch_size: PositiveInt = 1000
    state: Annotated[str, Field(strict=True)]
    nan_policy: domain_type("nan_policy") = "raise"  # type: ignore[valid-type]
    step: StepSettings = Field(default_factory=dict)  # type: ignore[arg-type]
    max_batches: PositiveInt | None = None
    max_seconds: PositiveFloat | None = None
    idle_seconds: NonNegativeFloat | None = 0.0
    poll_seconds: PositiveFloat = 1.0
    drain: Annotated[bool, Field(strict=True)] = False
    on_source_change: Literal["refuse", "reset"] = "refuse"
    fsync: Annotated[bool, Field(strict=True)] = True
    snapshot: SnapshotSettings = Field(default_factory=dict)  # type: ignore[arg-type]
    drift: DriftSettings | None = Field(default_factory=dict)  # type: ignore[arg-type]
    anomaly: AnomalySettings | None = Field(default_factory=dict)  # type: ignore[arg-type]

    @field_validator("state")
    @classmethod
    def _resolve_state(cls, value: str, info: ValidationInfo) -> str:
        resolved = resolve_location(value, _base_dir(info))
        if is_url(resolved):
            raise ValueError("the runner state is a local folder; give a path, not a URL")
        return resolved


class StreamOutputsConfig(_Section):
    """Per-sample scores of the stream (optional).

    Parameters
    ----------
    scores : str, optional
        Zarr store for log-likelihood, label and anomaly flag per stream row.
    responsibilities : bool, default False
        Also store the responsibilities.
    reports : str, default "reports"
        Local folder for the stream's plot (``<model>-history.png``: log-likelihood,
        drift alarms, anomalies and step size per batch), relative to the config
        file; the same kind of folder as a batch job's ``outputs.reports``.
    """

    scores: Annotated[str, Field(strict=True)] | None = None
    responsibilities: Annotated[bool, Field(strict=True)] = False
    reports: Annotated[str, Field(strict=True)] = "reports"

    @field_validator("reports")
    @classmethod
    def _resolve_reports(cls, value: str, info: ValidationInfo) -> str:
        return reports_folder(value, info)

    @field_validator("scores")
    @classmethod
    def _resolve_scores(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        resolved = resolve_location(value, _base_dir(info))
        if is_url(resolved):
            raise ValueError("scores are written to a local store; give a path, not a URL")
        return resolved


class OnlineUpdateConfig(_Section):
    """The whole ``online_update`` config (see the module docstring)."""

    source: StreamSourceConfig
    model: OnlineModelConfig
    online: OnlineSettings
    registry: RegistryConfig | None = None
    outputs: StreamOutputsConfig = Field(default_factory=dict)  # type: ignore[arg-type]

    @property
    def stream_name(self) -> str:
        """What reports call the stream: its registry model, else "stream"."""
        return self.registry.model if self.registry is not None else "stream"

    @model_validator(mode="after")
    def _start_needs_a_registry(self) -> "OnlineUpdateConfig":
        start = self.model.start_from
        if start is not None and start.root is None and self.registry is None:
            raise ValueError(
                "model.start_from needs a registry: give model.start_from.root or a registry section"
            )
        return self

    @model_validator(mode="after")
    def _bayesian_streams_do_not_average(self) -> "OnlineUpdateConfig":
        if self.model.kind == "bayesian" and self.online.step.is_given("average"):
            raise ValueError(
                "online.step.average applies to model.kind: gaussian (stepwise EM); a Bayesian "
                "stream learns by stochastic variational inference, whose posterior is the model. "
                "Remove online.step.average"
            )
        return self
