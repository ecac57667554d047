"""FastAPI's native OpenTelemetry is a setting: off by default (no per-request check)."""

from __future__ import annotations

from projekt.config import Settings
from projekt.main import create_app


def test_off_by_default_and_on_when_asked(migrated: Settings) -> None:
    off = create_app(migrated)
    assert off._native_telemetry.enabled() is False
    assert off._telemetry["tracing"] is False and off._telemetry["metrics"] is False
    on = create_app(migrated.model_copy(update={"opentelemetry": True}))
    assert on._telemetry["tracing"] is True and on._telemetry["metrics"] is True
