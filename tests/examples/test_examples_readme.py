"""The README shows every example picture, with the command that made it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from example_helpers import assert_small_png

from streamgmm.examples import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("image_segmentation", "large_image", "customers", "anomalies", "heights", "choosing_k",
            "too_many_components")
#: Examples whose pictures are named differently (several per example).
PICTURES = {"streams": ("stream_speech", "stream_sensors")}


def _examples_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Examples\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, "README.md has no '## Examples' section"
    return match.group(1)


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_shows_the_picture_and_the_command(name):
    section = _examples_section()
    assert f"](data/examples/{name}.png)" in section
    assert f"python -m streamgmm.examples.{name}" in section
    assert (REPO / "configs" / "examples").is_dir()
    assert_small_png(REPO / "data" / "examples" / f"{name}.png")


def test_every_committed_picture_is_shown():
    shown = set(re.findall(r"\]\(data/examples/([\w.-]+\.png)\)", _examples_section()))
    committed = {path.name for path in (REPO / "data" / "examples").glob("*.png")}
    assert committed == shown


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_readme_shows_every_picture_of_multi_picture_examples(name):
    section = _examples_section()
    assert f"python -m streamgmm.examples.{name}" in section
    for picture in PICTURES[name]:
        assert f"](data/examples/{picture}.png)" in section
        assert_small_png(REPO / "data" / "examples" / f"{picture}.png")


@pytest.mark.parametrize("name", EXAMPLES + tuple(PICTURES))
def test_every_example_has_the_shared_command_line(name, capsys):
    module = __import__(f"streamgmm.examples.{name}", fromlist=["main"])
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for option in ("--size", "--out", "--work"):
        assert option in usage
    assert callable(module.run)


def test_sizes_are_checked():
    assert cli.check_size("reduced") == "reduced"
    with pytest.raises(ValueError, match="reduced"):
        cli.check_size("tiny")
