"""The issue's shape is declared for three readers (the statement's columns, the repository's
typed rows, the API model): they must name the same fields, or a field read is never shown or
a field shown is never read."""

from __future__ import annotations

from typing import get_type_hints

from projekt.issues.repository import READ_FIELDS, IssueData
from projekt.issues.schemas import IssueRead


def test_the_columns_the_typed_row_and_the_model_name_the_same_fields() -> None:
    typed_row = set(get_type_hints(IssueData))
    assert typed_row == set(IssueRead.model_fields)
    assert typed_row == {*READ_FIELDS, "key"}


def test_a_doc_rows_typed_shape_names_the_models_fields() -> None:
    """The docs fast path's typed row beside ``DocSummary`` (the same drift, the same check)."""
    from projekt.docs.repository import DocSummaryRow
    from projekt.docs.schemas import DocSummary

    assert set(get_type_hints(DocSummaryRow)) == set(DocSummary.model_fields)
