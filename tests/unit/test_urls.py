from __future__ import annotations

import pytest

from orionlite.storage.urls import DEFAULT_STORAGE, mask_url, normalize_url, resolve_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://bob:hunter2@db:5432/hp", "postgresql://bob:***@db:5432/hp"),
        ("postgresql+psycopg://bob:p%40ss@db/hp", "postgresql+psycopg://bob:***@db/hp"),
        ("postgresql://bob@db/hp", "postgresql://bob@db/hp"),
        ("sqlite:///orionlite.db", "sqlite:///orionlite.db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_postgresql_urls_get_the_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"


def test_resolve_url_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_url(None) == DEFAULT_STORAGE
    monkeypatch.setenv("ORIONLITE_STORAGE", "sqlite:///env.db")
    assert resolve_url(None) == "sqlite:///env.db"
    assert resolve_url("sqlite:///given.db") == "sqlite:///given.db"
