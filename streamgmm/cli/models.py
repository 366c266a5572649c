"""``streamgmm models ACTION``: list, show, diff, promote, unalias, gc, verify model versions.

The registry is ``--root``, else ``$STREAMGMM_REGISTRY``, else ``./registry``
(:mod:`streamgmm.registry.location`, the rule of every command); when it was not
given by ``--root`` the command says on stderr where it found it (not with ``--quiet``).
Exit codes: 0 success, 1 a registry error (the message says what and where),
2 bad usage (including a local ``--root`` that does not exist or is not a folder).
:func:`add_models_subcommands` mounts the actions in another argparse program;
:func:`main` runs them on their own.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import StreamGMMError
from ._registry import announce
from ..registry.diff import diff_parameters, metadata_changes, metadata_differences
from ..registry.location import (
    ROOT_ENVIRONMENT_VARIABLE,
    RegistryNotFoundError,
    locate_registry,
    require_registry,
)
from ..registry.metadata import ModelMetadata, format_timestamp
from ..registry.registry import ModelRegistry

__all__ = [
    "DESCRIPTION", "ROOT_ENVIRONMENT_VARIABLE", "add_models_subcommands", "configure", "main",
    "run",
]

DESCRIPTION = "Inspect and manage the versioned model registry."

Handler = Callable[[argparse.Namespace], int]


def _command(function: Callable[[argparse.Namespace, ModelRegistry], int]) -> Handler:
    """Open the registry (:func:`~streamgmm.registry.location.locate_registry`) and turn
    streamgmm errors into exit code 1 (2 for a registry root that does not exist)."""

    @functools.wraps(function)
    def run(args: argparse.Namespace) -> int:
        try:
            location = require_registry(locate_registry(args.root, given_by="--root"))
        except RegistryNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        announce(location, quiet=args.quiet)
        try:
            return function(args, ModelRegistry(location.root))
        except StreamGMMError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _aliases_by_version(aliases: dict[str, int]) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = {}
    for alias, version in sorted(aliases.items()):
        by_version.setdefault(version, []).append(alias)
    return by_version


def _number(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.6g}"


# ------------------------------------------------------------------ commands
@_command
def _list(args: argparse.Namespace, registry: ModelRegistry) -> int:
    if args.name is None:
        summaries: list[dict[str, Any]] = []
        for name in registry.list_models():
            versions = registry.list_versions(name)
            summaries.append(
                {"name": name, "versions": len(versions), "aliases": registry.aliases(name)}
            )
        if args.json:
            _print_json(summaries)
        elif not summaries:
            print(f"no models in {registry.root}")
        else:
            rows = [["NAME", "VERSIONS", "ALIASES"]]
            rows += [
                [
                    s["name"],
                    str(s["versions"]),
                    ", ".join(f"{a}={v}" for a, v in sorted(s["aliases"].items())),
                ]
                for s in summaries
            ]
            print(_table(rows))
        return 0

    versions = registry.list_versions(args.name)
    if not versions:
        registry.resolve(args.name)  # raises the "no such model" error with suggestions
    by_version = _aliases_by_version(registry.aliases(args.name))
    status = 0
    records: list[dict[str, Any]] = []
    rows = [
        [
            "VERSION",
            "CREATED (UTC)",
            "TYPE",
            "K",
            "D",
            "PARENT",
            "SAMPLES",
            "LOWER BOUND",
            "ALIASES",
        ]
    ]
    for version in versions:
        aliases = ", ".join(by_version.get(version, []))
        try:
            meta = registry.show(args.name, version)
        except StreamGMMError as exc:
            status = 1
            records.append({"version": version, "error": str(exc)})
            rows.append([str(version), f"DAMAGED: {exc}", "", "", "", "", "", "", aliases])
            continue
        records.append({**meta.to_dict(), "aliases": by_version.get(version, [])})
        rows.append(
            [
                str(version),
                format_timestamp(meta.created_at)[:19],
                meta.covariance_type,
                str(meta.n_components),
                str(meta.n_features),
                "-" if meta.parent is None else str(meta.parent),
                _number(meta.metrics.n_samples),
                _number(meta.metrics.lower_bound),
                aliases,
            ]
        )
    if args.json:
        _print_json(records)
    else:
        print(_table(rows))
    return status


@_command
def _show(args: argparse.Namespace, registry: ModelRegistry) -> int:
    meta = registry.show(args.name, args.ref)
    by_version = _aliases_by_version(registry.aliases(args.name))
    _print_json({
        "kind": meta.kind,
        "components_in_use": meta.components_in_use,
        **meta.to_dict(),
        "aliases": by_version.get(meta.version, []),
    })
    return 0


def _label(meta: ModelMetadata) -> str:
    return (
        f"{meta.name}:{meta.version} ({meta.covariance_type}, K={meta.n_components}, "
        f"D={meta.n_features})"
    )


@_command
def _diff(args: argparse.Namespace, registry: ModelRegistry) -> int:
    a = registry.load(args.name, args.ref_a)
    b = registry.load(args.name_b or args.name, args.ref_b)
    result = diff_parameters(a.parameters, b.parameters)
    changes = metadata_changes(a.metadata, b.metadata)
    differences = metadata_differences(a.metadata, b.metadata)
    if args.json:
        _print_json(
            {
                "a": {"name": a.name, "version": a.version},
                "b": {"name": b.name, "version": b.version},
                "parameters": result.to_dict(),
                "metadata_changes": (
                    {k: {"a": va, "b": vb} for k, (va, vb) in changes.items()} if args.full
                    else {change.path: change.to_dict() for change in differences}
                ),
            }
        )
        return 0
    print(f"a: {_label(a.metadata)}")
    print(f"b: {_label(b.metadata)}")
    if result.identical:
        print("parameters: identical (bitwise)")
    else:
        matching = "identity" if result.is_identity_matching else "permuted"
        print(f"component matching ({matching}, by Bhattacharyya distance):")
        rows = [["A", "B", "WEIGHT A", "WEIGHT B", "|dMEAN|", "|dCOV|_F", "BHATTACHARYYA"]]
        for m in result.matches:
            rows.append(
                [
                    str(m.index_a),
                    str(m.index_b),
                    f"{m.weight_a:.6g}",
                    f"{m.weight_b:.6g}",
                    f"{m.mean_distance:.4g}",
                    f"{m.covariance_distance:.4g}",
                    f"{m.bhattacharyya:.4g}",
                ]
            )
        print("  " + _table(rows).replace("\n", "\n  "))
        if result.unmatched_a or result.unmatched_b:
            print(
                f"unmatched components: a {list(result.unmatched_a)}, b {list(result.unmatched_b)}"
            )
        print(f"weights total variation: {result.weights_total_variation:.4g}")
        print(f"max mean distance: {result.max_mean_distance:.4g}")
        print(f"max covariance distance: {result.max_covariance_distance:.4g}")
    if args.full and changes:
        print("metadata changes:")
        for key, (value_a, value_b) in changes.items():
            print(f"  {key}: {json.dumps(value_a)} -> {json.dumps(value_b)}")
    elif differences:
        print(f"metadata changes ({len(differences)} keys; --full prints whole fields):")
        for change in differences:
            print(f"  {change.describe()}")
    else:
        print("metadata: identical (identity and checksums aside)")
    return 0


@_command
def _promote(args: argparse.Namespace, registry: ModelRegistry) -> int:
    version = registry.promote(args.name, args.ref, args.alias)
    print(f"{args.name}: {args.alias} -> version {version}")
    return 0


@_command
def _unalias(args: argparse.Namespace, registry: ModelRegistry) -> int:
    version = registry.remove_alias(args.name, args.alias)
    print(f"{args.name}: removed alias {args.alias} (was version {version})")
    return 0


@_command
def _gc(args: argparse.Namespace, registry: ModelRegistry) -> int:
    report = registry.gc(args.name, keep_last=args.keep_last, dry_run=args.dry_run)
    removed = ", ".join(map(str, report.removed)) or "none"
    verb = "would remove" if report.dry_run else "removed"
    print(f"{args.name}: {verb} versions {removed}; kept {', '.join(map(str, report.kept))}")
    if report.stale_staging:
        print(f"{args.name}: removed {report.stale_staging} abandoned staging folder(s)")
    return 0


@_command
def _verify(args: argparse.Namespace, registry: ModelRegistry) -> int:
    versions = (
        registry.list_versions(args.name)
        if args.ref is None
        else [registry.resolve(args.name, args.ref)]
    )
    if not versions:
        registry.resolve(args.name)  # raises "no such model"
    failures = 0
    for version in versions:
        try:
            registry.load(args.name, version)
        except StreamGMMError as exc:
            failures += 1
            print(f"{args.name}:{version} FAILED: {exc}")
        else:
            print(f"{args.name}:{version} ok")
    return 1 if failures else 0


# ------------------------------------------------------------------ parsers
def add_models_subcommands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the registry commands to an argparse subparsers object.

    Each command sets ``func``: call ``args.func(args)`` and exit with the int it returns.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        help=f"registry root: a folder or fsspec URL (default: ${ROOT_ENVIRONMENT_VARIABLE}, "
        "else ./registry)",
    )
    common.add_argument(
        "-q", "--quiet", action="store_true",
        help="do not say where the registry was found when --root is not given",
    )

    def add(command: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(
            command, parents=[common], help=help_text, description=help_text
        )
        parser.set_defaults(func=handler)
        return parser

    parser = add("list", _list, "list the models, or the versions of one model")
    parser.add_argument("name", nargs="?", help="model name (omit to list the models)")
    parser.add_argument("--json", action="store_true", help="print JSON")

    parser = add("show", _show, "print a version's metadata as JSON")
    parser.add_argument("name")
    parser.add_argument(
        "ref", nargs="?", default="latest", help="version or alias (default latest)"
    )

    parser = add("diff", _diff, "compare two versions, matching their components")
    parser.add_argument("name")
    parser.add_argument("ref_a", help="version or alias")
    parser.add_argument("ref_b", help="version or alias")
    parser.add_argument("--name-b", help="model of ref_b, if not NAME")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--full", action="store_true",
        help="print each differing metadata field whole (default: only the keys that differ, "
        "old -> new, arrays summarised by shape, dtype and max abs difference)",
    )

    parser = add("promote", _promote, "point an alias (e.g. production) at a verified version")
    parser.add_argument("name")
    parser.add_argument("ref", help="version or alias to promote")
    parser.add_argument("alias", help="alias to set")

    parser = add("unalias", _unalias, "remove a user alias")
    parser.add_argument("name")
    parser.add_argument("alias")

    parser = add("gc", _gc, "delete old versions, keeping the newest N and every aliased one")
    parser.add_argument("name")
    parser.add_argument(
        "--keep-last", type=int, required=True, metavar="N", help="versions to keep (>= 1)"
    )
    parser.add_argument("--dry-run", action="store_true", help="only report what would be removed")

    parser = add("verify", _verify, "check the checksums and schema of one or all versions")
    parser.add_argument("name")
    parser.add_argument("ref", nargs="?", help="version or alias (default: every version)")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the registry actions as subcommands of ``parser`` (``streamgmm models``)."""
    add_models_subcommands(
        parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    )


def run(args: argparse.Namespace) -> int:
    """Run the parsed action; the exit code."""
    return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``streamgmm models`` on its own (as if mounted): runs an action; the exit code."""
    parser = argparse.ArgumentParser(prog="streamgmm models", description=DESCRIPTION)
    configure(parser)
    return run(parser.parse_args(argv))
