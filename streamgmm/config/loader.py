"""``load_config``: a YAML file -> a validated, frozen config object, or a ``ConfigError``.

YAML is read with PyYAML's safe loader, adjusted in two ways: a key given twice in
one mapping is an error (plain PyYAML keeps the last silently), and numbers such
as ``1e-3`` are floats (YAML 1.1 would read them as strings).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from streamgmm.io.atomic import atomic_write_bytes

from .errors import ConfigError, describe_validation_error
from .online import OnlineUpdateConfig
from .schema import BatchFitConfig
from .score import ScoreConfig
from .select_k import SelectKConfig

__all__ = ["CONFIG_KINDS", "load_config", "parse_config", "save_config"]

#: Config schema of every job, by the job's name.
CONFIG_KINDS: dict[str, type[BaseModel]] = {
    "batch_fit": BatchFitConfig,
    "select_k": SelectKConfig,
    "score": ScoreConfig,
    "online_update": OnlineUpdateConfig,
}

ConfigT = TypeVar("ConfigT", bound=BaseModel)

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _ConfigLoader(yaml.SafeLoader):
    """Safe loader with YAML 1.2 style floats and duplicate keys rejected."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} appears twice in one mapping (lines {seen[key]} and {line}); "
                    "keep one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), [f"no such config file (working directory {os.getcwd()}); check the path"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc}"]) from exc
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}invalid YAML: {problem}"]) from exc


def _schema(kind: str) -> type[BaseModel]:
    try:
        return CONFIG_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"kind={kind!r} is not a config kind; choose one of "
            f"{', '.join(repr(k) for k in CONFIG_KINDS)}"
        ) from None


def parse_config(
    data: Any,
    kind: str | type[ConfigT] = "batch_fit",
    *,
    base_dir: str | os.PathLike[str] | None = None,
    source: str = "<mapping>",
) -> Any:
    """Validate an already-read mapping into the config object of ``kind``.

    Parameters
    ----------
    data : mapping
        The configuration (e.g. read from YAML).
    kind : str or config class, default "batch_fit"
        Which job's schema (a key of :data:`CONFIG_KINDS`) or the class itself.
    base_dir : path, optional
        Folder that relative paths are relative to; default the working directory.
    source : str
        Named in error messages.

    Raises
    ------
    ConfigError
        One line per problem, each naming the key path, the value and what is allowed.
    """
    schema = _schema(kind) if isinstance(kind, str) else kind
    if data is None:
        raise ConfigError(source, ["the configuration is empty; see configs/ for examples"])
    if not isinstance(data, Mapping):
        raise ConfigError(
            source,
            [f"(top level): expected a mapping of sections, got a {type(data).__name__}"],
        )
    context = {"base_dir": None if base_dir is None else Path(base_dir)}
    try:
        return schema.model_validate(dict(data), context=context)
    except ValidationError as exc:
        raise ConfigError(source, describe_validation_error(schema, exc)) from None


def load_config(path: str | os.PathLike[str], kind: str = "batch_fit") -> Any:
    """Read a YAML config file and validate it into the frozen config object of ``kind``.

    Relative paths inside the file are relative to the file's folder; ``${VAR}``
    and ``~`` are expanded (see :mod:`streamgmm.config.paths`).

    Parameters
    ----------
    path : path
        The YAML file.
    kind : str, default "batch_fit"
        Which job's schema (see :data:`CONFIG_KINDS`).

    Returns
    -------
    pydantic.BaseModel
        The config object of ``kind`` (:data:`CONFIG_KINDS`), e.g. ``BatchFitConfig``.

    Raises
    ------
    ConfigError
        Missing or unreadable file, invalid YAML, or schema violations; the message
        names the file and, for each problem, the key path, the value and what is allowed.
    """
    schema = _schema(kind)
    file = Path(path).expanduser()
    data = _read_yaml(file)
    return parse_config(data, schema, base_dir=file.resolve().parent, source=str(path))


def save_config(
    config: BaseModel, path: str | os.PathLike[str], *, header: str | None = None
) -> Path:
    """Write a validated config as a YAML file that :func:`load_config` reads back equal.

    Every key is written, defaults included, and every path is absolute (as
    validation resolved it), so the file runs the same job from any folder, whatever
    the defaults of a later streamgmm. Written atomically; parents are created.

    Parameters
    ----------
    config : pydantic.BaseModel
        A validated config object (e.g. ``BatchFitConfig``).
    path : path
        The YAML file (replaced if it exists).
    header : str, optional
        Comment lines put first (each prefixed with ``# ``).

    Returns
    -------
    Path
        ``path``.
    """
    document = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    if header:
        document = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + document
    target = Path(path)
    atomic_write_bytes(target, document.encode("utf-8"))
    return target
