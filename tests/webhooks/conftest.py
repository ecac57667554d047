"""Fixtures the webhook tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI


@pytest.fixture
def strict_targets(app: FastAPI) -> Iterator[None]:
    """The production setting: no private targets (the suite allows loopback receivers)."""
    services = app.state.services
    relaxed = services.settings
    services.settings = relaxed.model_copy(update={"webhook_allow_private_targets": False})
    yield
    services.settings = relaxed
