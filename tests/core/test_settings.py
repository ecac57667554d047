"""Settings fail fast on nonsense, at start-up rather than on the first request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from projekt.cli import main
from projekt.config import Settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "mysql://root@localhost/x"),
        ("redis_url", "http://localhost:6379"),
        ("base_url", "projekt.example.com"),
        ("base_url", "https://x.example.com/?q=1"),
        ("rate_limit_global", "lots"),
        ("trusted_proxies", ["not-an-ip"]),
        ("db_pool_size", 0),
        ("password_hash_profile", "none"),
    ],
)
def test_nonsense_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_session_lifetimes_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="session_absolute_days"):
        Settings(session_idle_days=30, session_absolute_days=10)


def test_postgres_urls_are_normalized() -> None:
    settings = Settings(database_url="postgresql://u@h/db", base_url="https://x.example.com/")
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.base_url == "https://x.example.com"
    assert settings.api_resource == "https://x.example.com/api"


def test_cli_refuses_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROJEKT_BASE_URL", "not a url")
    assert main(["migrate"]) == 2
    assert "invalid settings" in capsys.readouterr().err
