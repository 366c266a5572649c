"""Where the examples find their configs and put their outputs, in the repository checkout."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import StreamGMMError

__all__ = ["CheckoutNotFoundError", "config_file", "default_pictures", "default_work", "repository_root"]


class CheckoutNotFoundError(StreamGMMError):
    """The examples were run from an installed package, away from the repository."""


def repository_root() -> Path:
    """The checkout this package was installed from (editable install).

    Only data is read from it (the example configs, the README's pictures); the
    code the examples run, flows included, is the installed package's.

    Raises
    ------
    CheckoutNotFoundError
        When ``configs/examples/`` is not beside the package, e.g. after a regular
        (non-editable) install.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "configs" / "examples").is_dir():
        raise CheckoutNotFoundError(
            f"the examples need the streamgmm repository checkout (configs/examples/), but "
            f"{root} is not one; clone the repository and install it with "
            "pip install -e '.[examples]'"
        )
    return root


def config_file(name: str) -> Path:
    """``configs/examples/<name>.yaml`` in the checkout."""
    path = repository_root() / "configs" / "examples" / f"{name}.yaml"
    if not path.is_file():
        raise CheckoutNotFoundError(f"the example config {path} is missing from the checkout")
    return path


def default_pictures() -> Path:
    """``data/examples/``: the pictures shown in the README."""
    return repository_root() / "data" / "examples"


def default_work(name: str) -> Path:
    """``data/generated/examples/<name>/``: generated data, registry, predictions (git-ignored)."""
    return repository_root() / "data" / "generated" / "examples" / name
