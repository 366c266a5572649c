"""Fixtures for the registry tests: real folders under tmp_path."""

from __future__ import annotations

import pytest

from streamgmm.registry import ModelRegistry


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    """An empty registry in a fresh folder."""
    return ModelRegistry(tmp_path / "registry")
