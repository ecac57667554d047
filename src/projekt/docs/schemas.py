from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from projekt.core.schemas import (
    NOT_BLANK,
    InputModel,
    OutputModel,
    Position,
    Timestamp,
    Uuid,
    omitted,
)
from projekt.docs.content import BLOCK_TYPES, MAX_CONTENT_BYTES, ContentError, parse_blocks

BLOCKS_DOC = (
    'EditorJS content: `{"blocks": [{"type", "data"}, …]}`, or that object as a JSON '
    "string. Block types: paragraph, header, list, checklist, quote, code, delimiter, table, "
    "image (an http(s) url), warning. Send `blocks` or `markdown`, not both."
)
MARKDOWN_DOC = "The content as markdown (CommonMark with GFM tables), read into blocks."


def _blocks(value: Any) -> dict[str, Any]:
    if value is None:
        raise ValueError("cannot be null")  # worded by the handler: the input is null
    try:
        return {"blocks": parse_blocks(value)}
    except ContentError as exc:
        raise ValueError(str(exc)) from None


_BLOCK_SCHEMA = {
    "type": "object",
    "required": ["type", "data"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 64},
        "type": {"type": "string", "enum": list(BLOCK_TYPES)},
        "data": {"type": "object"},
    },
}
# The object (normalized and validated per block type by ``content.parse_blocks``) or its
# JSON text.
EditorJsInput = Annotated[
    Any,
    BeforeValidator(_blocks),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "object",
                    "required": ["blocks"],
                    "properties": {
                        "blocks": {"type": "array", "items": _BLOCK_SCHEMA},
                        "time": {"type": "integer"},
                        "version": {"type": "string"},
                    },
                },
                {"type": "string"},
            ]
        }
    ),
]


class DocContent(InputModel):
    blocks: EditorJsInput = omitted(description=BLOCKS_DOC)
    markdown: str = omitted(max_length=MAX_CONTENT_BYTES, description=MARKDOWN_DOC)


class DocCreate(DocContent):
    title: str = Field(min_length=1, max_length=255, pattern=NOT_BLANK)
    parent_doc_id: Uuid | None = None
    icon: str | None = Field(default=None, max_length=64)
    position: Position = omitted()


class DocUpdate(DocContent):
    title: str = omitted(min_length=1, max_length=255, pattern=NOT_BLANK)
    parent_doc_id: Uuid | None = None
    icon: str | None = Field(default=None, max_length=64)
    position: Position = omitted()
    is_archived: bool = omitted()


class DocRestore(InputModel):
    version: Position = Field(
        description="The version to bring back (saved as a new version); 404 if none has it."
    )


class EditorJs(OutputModel):
    blocks: list[dict[str, Any]]


class DocSummary(OutputModel):
    id: uuid.UUID
    project_id: uuid.UUID
    parent_doc_id: uuid.UUID | None
    title: str
    icon: str | None
    position: int
    is_archived: bool
    version: int = Field(description="The number of the latest save.")
    size: int = Field(description="Bytes of the content (its blocks as JSON).")
    created_by_id: uuid.UUID | None
    updated_by_id: uuid.UUID | None
    created_at: Timestamp
    updated_at: Timestamp


class DocRead(DocSummary):
    blocks: EditorJs


class DocVersionSummary(OutputModel):
    number: int
    title: str
    size: int
    restored_from: int | None = Field(description="The version a restore brought back.")
    author_id: uuid.UUID | None
    created_at: Timestamp


class DocVersionRead(DocVersionSummary):
    blocks: EditorJs
    markdown: str


class DocDiff(OutputModel):
    doc_id: uuid.UUID
    from_version: int
    to_version: int
    diff: str = Field(description="A unified diff of the two versions' markdown.")
