from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from projekt.core.db import Base, UTCDateTime, new_id


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16), default="org")
    status: Mapped[str] = mapped_column(String(16), default="active")
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The last issue number handed out; bumped by an atomic UPDATE … RETURNING, so keys have
    # no gaps or duplicates under concurrent creates.
    issue_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by every change to the project's representation (its ETag).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped by every write to any of its issues: the validator of issue lists, so a list 304
    # needs no list query.
    issues_version: Mapped[int] = mapped_column(Integer, default=0)
    # Kept in the same transactions as the issue writes, so a project's plain issue list needs
    # no count over all its issues (which grows with the project) for its total.
    open_issues: Mapped[int] = mapped_column(Integer, default=0)
    archived_issues: Mapped[int] = mapped_column(Integer, default=0)
    # The project's time entries, kept by time tracking's writes in their transactions: the
    # total of the org's plain entry list (a sum over the projects the caller sees) and of a
    # project's, without a count over all of them (migration 0017).
    time_entries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        Index("ix_project_members_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Sprint capacity; None means the default of 6 hours per working day.
    capacity_hours_per_day: Mapped[float | None] = mapped_column(Float)
