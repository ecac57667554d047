from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from projekt.core.db import Base, JSONList, UTCDateTime, new_id


class Doc(Base):
    """A doc as it is now; ``version`` is its latest save (a row of ``doc_versions``)."""

    __tablename__ = "docs"
    __table_args__ = (
        # The list: a project's docs in tree order.
        Index(
            "ix_docs_project_id_parent_doc_id_position", "project_id", "parent_doc_id", "position"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The service deletes children itself (recording each); the cascade is for a project's end.
    parent_doc_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("docs.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(255))
    icon: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    blocks: Mapped[list[dict[str, Any]]] = mapped_column(JSONList)
    # Case-folded words of the title and content: full-text search reads them (the GIN index
    # ix_docs_fts on PostgreSQL, LIKE on SQLite).
    search_text: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Moves with every write (the ETag); ``version`` only with saves of the content.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DocVersion(Base):
    """One save of a doc: its title and blocks as saved, who saved them and when."""

    __tablename__ = "doc_versions"
    __table_args__ = (UniqueConstraint("doc_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    doc_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("docs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    blocks: Mapped[list[dict[str, Any]]] = mapped_column(JSONList)
    size: Mapped[int] = mapped_column(Integer)
    # A restore names the version it brought back.
    restored_from: Mapped[int | None] = mapped_column(Integer)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
