"""Every repository path a help text names exists: ``--help`` of every command and
subcommand, and the docstrings of the config modules (what ``help()`` shows).

A path is a ``configs/...``, ``data/...`` or ``flows/...`` word (``../`` allowed). What the
jobs write under ``data/generated/`` (git-ignored, made by the scripts and commands) is
output, not a file to look for.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import streamgmm.config
from streamgmm.cli import COMMANDS, build_parser

REPO = Path(__file__).resolve().parents[1]
_PATH = re.compile(r"(?<![\w./-])(?:\.\./)*((?:configs|data|flows)/[\w.-]+(?:/[\w.-]+)*)")
_GENERATED = "data/generated"


def _paths(text: str) -> set[str]:
    found = {match.rstrip(".") for match in _PATH.findall(text)}
    return {p for p in found if not p.startswith(_GENERATED)}


def _helps(name: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    """``(command line, help text)`` of ``parser`` and of every subcommand below it."""
    yield name, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _helps(f"{name} {sub}", subparser)


def _command_helps() -> Iterator[tuple[str, str]]:
    for command in COMMANDS:
        parser = build_parser(command)
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        yield from _helps(f"streamgmm {command}", subparsers.choices[command])


def _config_docstrings() -> Iterator[tuple[str, str]]:
    for module_info in pkgutil.iter_modules(streamgmm.config.__path__, "streamgmm.config."):
        module = importlib.import_module(module_info.name)
        yield module_info.name, module.__doc__ or ""
        for name, member in vars(module).items():
            if inspect.isclass(member) and member.__module__ == module.__name__:
                yield f"{module_info.name}.{name}", member.__doc__ or ""


def test_the_walk_finds_paths_to_check():
    """The check can fail: the help texts do name repository files."""
    named = set().union(*(_paths(text) for _, text in _command_helps()))
    assert "configs/batch_fit.yaml" in named and "configs/stream_speech.yaml" in named
    assert _paths("see ../configs/nothing.yaml, data/generated/x.zarr") == {"configs/nothing.yaml"}


@pytest.mark.parametrize("source", ["commands", "config docstrings"])
def test_every_named_path_exists(source):
    texts = _command_helps() if source == "commands" else _config_docstrings()
    missing = [
        f"{where}: {path}" for where, text in texts for path in sorted(_paths(text))
        if not (REPO / path).exists()
    ]
    assert not missing, "help texts name files that do not exist:\n" + "\n".join(missing)
