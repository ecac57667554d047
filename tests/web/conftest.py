"""The browser tests here drive the same headless Chromium as tests/e2e."""

from tests.e2e.conftest import browser

__all__ = ["browser"]
