"""Docs below HTTP: the tree walk, and full-text search on PostgreSQL reading its GIN index."""

from __future__ import annotations

import html
import uuid

import pytest
from fastapi import FastAPI
from markdown_it import MarkdownIt
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from projekt.docs.content import from_markdown
from projekt.docs.models import Doc
from projekt.docs.repository import DocRepository, search_words
from projekt.docs.service import _descendants, _document


def test_descendants_walk_the_whole_subtree_and_nothing_else() -> None:
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    tree = {a: None, b: a, c: b, d: a, e: None}
    assert sorted(map(str, _descendants(tree, a))) == sorted(map(str, (b, c, d)))
    assert _descendants(tree, c) == []
    assert _descendants(tree, e) == []


def test_the_diffs_heading_is_the_title_as_plain_text() -> None:
    title = "<img src=x onerror=alert(1)> [a](javascript:x) *b*\n- c ##"
    document = _document(title, [])
    rendered = MarkdownIt("commonmark").render(document)
    assert rendered.startswith("<h1>") and rendered.count("<") == 2, rendered  # <h1></h1>
    text = html.escape(" ".join(title.split()), quote=False)
    assert from_markdown(document) == [{"type": "header", "data": {"text": text, "level": 1}}]


def test_search_words_are_letters_and_digits_only() -> None:
    # Nothing of to_tsquery's syntax (&, |, !, :*, quotes) reaches it from a query.
    assert search_words("Foo & bar:* !baz 'x' 42_b") == ["foo", "bar", "baz", "x", "42", "b"]
    assert search_words("!!!") == []


async def test_postgresql_search_can_use_the_gin_index(app: FastAPI) -> None:
    db = app.state.services.db
    if db.dialect != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only (SQLite searches with LIKE)")
    async with db.read() as session:
        repository = DocRepository(session, uuid.uuid4())
        stmt = select(Doc.id).where(repository._matches(["airship", "hangar"]))
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        sql = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))
    assert "ix_docs_fts" in plan, plan
