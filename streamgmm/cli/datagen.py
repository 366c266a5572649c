"""``streamgmm datagen PATH``: a synthetic mixture dataset (:mod:`streamgmm.io.datagen`)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Sequence

from ..core.covariance import COVARIANCE_TYPES
from ..core.errors import InvalidParameterError
from ..io.datagen.generate import DTYPES, default_chunk_rows, generate_mixture_dataset, resolve_dtype
from ..io.datagen.writers import FORMATS, TRUE_PARAMS_FILENAME
from ..io.destinations import DestinationError
from ..io.sizes import format_bytes, parse_size

__all__ = ["DESCRIPTION", "configure", "main", "run"]

DESCRIPTION = (
    "Write a synthetic Gaussian-mixture dataset chunk by chunk (bounded memory), with its true "
    "parameters saved beside it."
)


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s"
    minutes, seconds = divmod(int(round(s)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _argument(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap a converter so argparse reports our message as a usage error."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except (InvalidParameterError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = convert.__name__
    return parse


def _positive_int_text(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be a positive integer")
    return value


def _float_list(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the data generator's arguments to ``parser`` (for :func:`run`).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A parser or sub-command parser; nothing else is set on it (no handler default).
    """
    parser.add_argument("path", help="folder to create: a Zarr group or a folder of Parquet files")
    how_many = parser.add_mutually_exclusive_group(required=True)
    how_many.add_argument(
        "--n-samples", type=_argument(_positive_int_text), help="number of rows N"
    )
    how_many.add_argument(
        "--size",
        type=_argument(parse_size),
        help="uncompressed size of X instead of --n-samples, e.g. 200MB, 8GB, 2GiB "
        "(N = size // (n_features * itemsize); GB = 10^9 bytes, GiB = 2^30)",
    )
    parser.add_argument("--n-features", type=_argument(_positive_int_text), default=16)
    parser.add_argument("--n-components", type=_argument(_positive_int_text), default=8)
    parser.add_argument("--format", choices=FORMATS, default="zarr")
    parser.add_argument("--zarr-format", type=int, choices=(3, 2), default=3)
    parser.add_argument(
        "--chunk-rows",
        type=_argument(_positive_int_text),
        default=None,
        help="rows per chunk / Parquet file (default: about 16 MiB of X per chunk)",
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full")
    parser.add_argument(
        "--separation",
        type=float,
        default=5.0,
        help="closest pair of means, in largest component standard deviations (default 5)",
    )
    parser.add_argument("--offset", type=float, default=0.0, help="added to every value, e.g. 1e6")
    parser.add_argument(
        "--scales",
        type=_argument(_float_list),
        default=None,
        help="per-feature scales, comma separated (one value, or n_features values)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nan-fraction", type=float, default=0.0, help="probability that a row gets a NaN"
    )
    parser.add_argument(
        "--nan-rows", type=_argument(_int_list), default=None, help="rows that get a NaN, e.g. 0,17"
    )
    parser.add_argument(
        "--threads", type=_argument(_positive_int_text), default=None, help="writer threads"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing dataset at PATH"
    )
    parser.add_argument(
        "--progress-every",
        type=_argument(_positive_int_text),
        default=None,
        metavar="N",
        help="print a progress line every N chunks (default: about 20 lines in all)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")


def run(args: argparse.Namespace) -> int:
    """Generate the dataset described by parsed ``args``; print progress and a summary.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser given :func:`configure`.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a bad argument or an existing path, 1 for an I/O error.
    """
    out = sys.stdout
    try:
        itemsize = resolve_dtype(args.dtype).itemsize
        if args.n_samples is not None:
            n_samples = args.n_samples
        else:
            n_samples = args.size // (args.n_features * itemsize)
            if n_samples < 1:
                raise InvalidParameterError(
                    f"--size {format_bytes(args.size)} holds less than one row of "
                    f"{args.n_features} {args.dtype} features; give a larger --size"
                )
        chunk_rows = (
            default_chunk_rows(n_samples, args.n_features, args.dtype)
            if args.chunk_rows is None
            else min(args.chunk_rows, n_samples)
        )
        n_chunks = -(-n_samples // chunk_rows)
        every = args.progress_every or max(1, n_chunks // 20)
        total_bytes = n_samples * args.n_features * itemsize
        started = time.perf_counter()
        kind = f"zarr v{args.zarr_format}" if args.format == "zarr" else "parquet"
        if not args.quiet:
            print(
                f"datagen: {n_samples:,} rows x {args.n_features} features ({args.dtype}, "
                f"{format_bytes(total_bytes)}), {args.n_components} {args.covariance_type} "
                f"components -> {args.path} ({kind}, {n_chunks:,} chunks of {chunk_rows:,} rows)",
                file=out,
                flush=True,
            )

        def report(done: int, total: int) -> None:
            if args.quiet or (done % every and done != total):
                return
            elapsed = time.perf_counter() - started
            written = min(done * chunk_rows, n_samples) * args.n_features * itemsize
            rate = written / elapsed if elapsed > 0 else float("inf")
            eta = (total_bytes - written) / rate if rate > 0 else 0.0
            print(
                f"datagen: {done:,}/{total:,} chunks {100 * done / total:5.1f}%  "
                f"{format_bytes(written)}  {format_bytes(rate)}/s  eta {_seconds(eta)}",
                file=out,
                flush=True,
            )

        info = generate_mixture_dataset(
            args.path,
            n_samples=n_samples,
            n_features=args.n_features,
            n_components=args.n_components,
            format=args.format,
            chunk_rows=chunk_rows,
            dtype=args.dtype,
            covariance_type=args.covariance_type,
            separation=args.separation,
            offset=args.offset,
            scales=args.scales,
            seed=args.seed,
            nan_fraction=args.nan_fraction,
            nan_rows=args.nan_rows,
            zarr_format=args.zarr_format,
            overwrite=args.overwrite,
            n_threads=args.threads,
            progress=report,
        )
    except (InvalidParameterError, FileExistsError, DestinationError) as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("datagen: interrupted; nothing was left at the target path", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    stored = sum(f.stat().st_size for f in info.path.rglob("*") if f.is_file())
    print(
        f"datagen: wrote {info.path} ({kind}): X {info.shape[0]:,} x {info.shape[1]} "
        f"{info.dtype}, {format_bytes(info.nbytes)} ({format_bytes(stored)} on disk), "
        f"{info.n_chunks:,} chunks of {info.chunk_rows:,} rows, {info.n_nan_rows:,} NaN rows, "
        f"in {_seconds(elapsed)} ({format_bytes(info.nbytes / max(elapsed, 1e-9))}/s); "
        f"true parameters: {info.true_params_path}",
        file=out,
        flush=True,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m streamgmm.cli.datagen`` (the same as ``streamgmm datagen``)."""
    parser = argparse.ArgumentParser(
        prog="streamgmm datagen",
        description="Write a synthetic Gaussian-mixture dataset of any size to Zarr or Parquet, "
        "chunk by chunk in bounded memory, with the true parameters saved beside it "
        f"({TRUE_PARAMS_FILENAME}) and the true labels in the dataset.",
    )
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
