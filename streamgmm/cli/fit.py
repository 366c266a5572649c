"""``streamgmm fit CONFIG | DATA``: run the ``batch_fit`` flow now (:mod:`streamgmm.orchestration`).

Two ways in, one config model and one flow:

- ``streamgmm fit CONFIG``: a batch_fit YAML file, as ``python -m flows.batch_fit``;
- ``streamgmm fit DATA --n-components K [...]``: no YAML to write first. The options
  become the mapping a YAML file would hold; it is validated by the same
  :func:`~streamgmm.config.parse_config` into the same ``BatchFitConfig`` (relative
  paths against the working directory), saved as YAML in the reports folder
  (``<reports>/<name>-fit.yaml``, every key written, paths absolute), and that file
  runs the same ``batch_fit`` flow. ``streamgmm fit <that file>`` repeats the run,
  and a ``batch_fit`` deployment of ``prefect.yaml`` can schedule it. The model
  version's metadata hold the same config (``training_config``).

DATA is a Zarr store or a Parquet file or folder, told apart by what is on disk
(:func:`~streamgmm.io.sources.format_on_disk`). The registry is ``--registry``,
else ``$STREAMGMM_REGISTRY``, else ``./registry``
(:mod:`streamgmm.registry.location`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..config import SCHEDULER_NAMES, BatchFitConfig, ConfigError, parse_config, save_config
from ..core.domains import DOMAINS
from ..core.errors import StreamGMMError
from ..io.sources import format_on_disk
from ..orchestration.batch_fit import COMMAND
from ..preflight import check_job, prepare_reports_folder
from ..registry.location import locate_registry
from ._flow import flow_epilog, run_flow_command
from ._registry import announce

__all__ = ["DESCRIPTION", "EPILOG", "config_from_options", "configure", "run"]

DESCRIPTION = (
    "Fit a Gaussian mixture out of core, publish it as a new model version, write predictions "
    "and plots, record Prefect artifacts: as a batch_fit YAML config says (streamgmm fit "
    "CONFIG), or straight from the data (streamgmm fit DATA --n-components K ...), which "
    "writes the config it ran as YAML in the reports folder."
)
EPILOG = (
    flow_epilog("fit", "configs/batch_fit.yaml")
    + " Without a config: streamgmm fit data/generated/example.zarr --n-components 6 "
    "--variable X (the registry is --registry, else $STREAMGMM_REGISTRY, else ./registry)."
)

#: Option -> the config key it sets (for messages naming both).
OPTION_KEYS: dict[str, str] = {
    "--n-components": "model.n_components",
    "--covariance-type": "model.covariance_type",
    "--max-iter": "model.max_iter",
    "--tol": "model.tol",
    "--reg-covar": "model.reg_covar",
    "--n-init": "model.n_init",
    "--init-params": "model.init_params",
    "--seed": "model.seed",
    "--dtype": "model.dtype",
    "--variable": "data.variable",
    "--columns": "data.columns",
    "--nan-policy": "data.nan_policy",
    "--scheduler": "compute.scheduler",
    "--n-workers": "compute.n_workers",
    "--name": "registry.model",
    "--alias": "registry.aliases",
    "--registry": "registry.root",
    "--predictions": "outputs.predictions",
    "--overwrite": "outputs.overwrite",
    "--reports": "outputs.reports",
    "--checkpoint": "checkpoint.folder",
}

_DATA_SUFFIXES = re.compile(r"\.(zarr|parquet|pq)$")
#: Named as the source of the config in messages.
_SOURCE = "streamgmm fit (command-line options)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``CONFIG | DATA``, ``--quiet``, and the options of a fit without a config."""
    parser.add_argument(
        "config", metavar="CONFIG | DATA",
        help="a batch_fit YAML config file; or the data (a Zarr store, a Parquet file or "
        "folder) with --n-components",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true",
        help="show warnings and the result only (no progress lines)",
    )
    options = parser.add_argument_group(
        "fitting DATA without a config (each option is the config key in brackets)"
    )

    def add(flag: str, **kwargs: Any) -> None:
        kwargs["help"] = f"{kwargs.get('help', '')} {_default_text(flag)}[{OPTION_KEYS[flag]}]"
        options.add_argument(flag, default=None, **kwargs)

    def choices(name: str) -> tuple[str, ...]:
        return DOMAINS[name].choices

    add("--n-components", type=int, metavar="K", help="number of components (required)")
    add("--covariance-type", choices=choices("covariance_type"))
    data = options.add_mutually_exclusive_group()
    data.add_argument("--variable", default=None,
                      help=f"Zarr array holding the rows (default: the only 2-D one) "
                      f"[{OPTION_KEYS['--variable']}]")
    data.add_argument("--columns", default=None, metavar="A,B,...",
                      help=f"Parquet columns to use, comma-separated (default: the features "
                      f"the file declares, else all) [{OPTION_KEYS['--columns']}]")
    add("--name", help="model name in the registry (default: the data's file name)")
    add("--alias", action="append", metavar="ALIAS", help="alias to point at the new version "
        "(repeatable)")
    add("--registry", metavar="PATH",
        help="registry root (default: $STREAMGMM_REGISTRY, else ./registry)")
    add("--predictions", metavar="PATH", help="Zarr group for labels, responsibilities and "
        "log-likelihoods (default: none written)")
    add("--overwrite", action="store_const", const=True,
        help="replace predictions streamgmm wrote before")
    add("--reports", metavar="DIR", help="folder for the plots and the config written, in the "
        "working directory")
    add("--max-iter", type=int, metavar="N")
    add("--tol", type=float)
    add("--reg-covar", type=float)
    add("--n-init", type=int, metavar="N")
    add("--init-params", choices=choices("init_params"))
    add("--seed", type=int)
    add("--dtype", choices=choices("dtype"), help="(default: follow the data)")
    add("--nan-policy", choices=choices("nan_policy"))
    add("--scheduler", help=f"{', '.join(SCHEDULER_NAMES)}, or tcp://HOST:PORT")
    add("--n-workers", type=int, metavar="N", help="workers of a local cluster, threads of "
        "'threads'")
    add("--checkpoint", metavar="DIR", help="folder for the EM checkpoint (resume after a "
        "crash)")


#: The schema section of each config section, for the defaults shown by ``--help``.
_SECTIONS: dict[str, type[BaseModel]] = {
    field: info.annotation for field, info in BatchFitConfig.model_fields.items()
}


def _default_text(flag: str) -> str:
    """``(default X) `` from the config schema, for options whose key has a plain default."""
    section, key = OPTION_KEYS[flag].split(".")
    default = _SECTIONS[section].model_fields[key].default
    if isinstance(default, bool) or not isinstance(default, (int, float, str)):
        return ""
    return f"(default {default}) "


def _given(args: argparse.Namespace) -> list[str]:
    """The fit-without-config options given on the command line."""
    return [flag for flag in OPTION_KEYS if getattr(args, _dest(flag), None) is not None]


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _model_name(data: Path) -> str:
    return _DATA_SUFFIXES.sub("", data.name.rstrip("/")) or "model"


def config_from_options(args: argparse.Namespace) -> BatchFitConfig:
    """The ``BatchFitConfig`` the options describe, validated as a YAML file would be.

    Raises
    ------
    ConfigError
        The data are neither Zarr nor Parquet, or an option is invalid (each problem
        names the config key; :func:`_name_options` adds the option).
    """
    if "://" in args.config:  # a URL: the reader tells Zarr from Parquet when it opens it
        data_uri, data_format = args.config, "auto"
        data_path = Path(args.config.rstrip("/").rsplit("/", 1)[-1])
    else:
        data_path = Path(args.config).expanduser().absolute()
        data_uri = str(data_path)
        try:
            data_format = format_on_disk(data_path)
        except StreamGMMError as exc:
            raise ConfigError("DATA", [str(exc)]) from None
    values = {flag: getattr(args, _dest(flag)) for flag in _given(args)}
    if "--columns" in values:
        values["--columns"] = [c.strip() for c in values["--columns"].split(",") if c.strip()]
    values["--registry"] = locate_registry(args.registry, given_by="--registry").root
    values.setdefault("--name", _model_name(data_path))
    document: dict[str, Any] = {"data": {"uri": data_uri, "format": data_format},
                                "registry": {}}
    for flag, value in values.items():
        section, key = OPTION_KEYS[flag].split(".")
        document.setdefault(section, {})[key] = value
    return parse_config(document, "batch_fit", base_dir=Path.cwd(), source=_SOURCE)


def _name_options(problem: str) -> str:
    """A problem about a config key, naming the option that set it too."""
    for flag, key in OPTION_KEYS.items():
        if problem.startswith((f"{key}:", f"{key}[")):
            return f"{flag} ({key}){problem[len(key):]}"
    return problem


def _fit_data(args: argparse.Namespace) -> int:
    """``streamgmm fit DATA --n-components K ...``: the options as a config, saved, run.

    The destinations are checked (against the data and each other, and probed)
    before the config file is written into the reports folder, so a refused run
    writes nowhere it should not.
    """
    announce(locate_registry(args.registry, given_by="--registry"), quiet=args.quiet,
             choose="--registry PATH")
    try:
        config = config_from_options(args)
        check_job(config, _SOURCE, inputs=False)  # the data are opened by the run's own check
        reports = prepare_reports_folder(config.outputs.reports)
        path = save_config(
            config, reports / f"{config.registry.model}-fit.yaml",
            header=(
                "batch_fit config written by 'streamgmm fit DATA --n-components K ...' in\n"
                f"{os.getcwd()}; every key written, every path absolute. Run it again with\n"
                f"streamgmm fit {reports / f'{config.registry.model}-fit.yaml'}"
            ),
        )
    except ConfigError as exc:
        named = ConfigError(exc.source, [_name_options(line) for line in exc.problems])
        print(f"fit: invalid options\n{named}", file=sys.stderr)
        return 2
    except (StreamGMMError, OSError) as exc:  # e.g. a reports folder that is not ours
        print(f"fit: {exc}", file=sys.stderr)
        return 2
    args.config = str(path)
    status = run_flow_command(COMMAND, args)
    if status == 0:
        print(f"  config        {path} (run again: streamgmm fit {path})")
    return status


def run(args: argparse.Namespace) -> int:
    """Run the flow on a config file, or on the data and options; the exit code."""
    if args.n_components is not None:
        return _fit_data(args)
    given = _given(args)
    source = Path(args.config)
    if given:
        print(
            f"fit: {', '.join(given)} set the fit of DATA without a config, which needs "
            "--n-components K; to change a config's run, edit its YAML file", file=sys.stderr,
        )
        return 2
    if source.is_dir() or source.suffix in (".zarr", ".parquet", ".pq"):
        print(
            f"fit: {source} is data, not a config: give the number of components, e.g. "
            f"streamgmm fit {source} --n-components 6 (or a batch_fit YAML config)",
            file=sys.stderr,
        )
        return 2
    return run_flow_command(COMMAND, args)
