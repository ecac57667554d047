from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from projekt.core.db import Base, UTCDateTime, new_id


class TimeEntry(Base):
    """Minutes a person spent on a project (and maybe one of its issues) on a day.

    A running timer is an entry with ``running`` set and no ``minutes`` yet; stopping it fills
    ``minutes`` and ``ended_at``. At most one runs per person and org: the partial unique index
    is what makes two concurrent starts answer one 201 and one 409.
    """

    __tablename__ = "time_entries"
    __table_args__ = (
        Index("ix_time_entries_org_id_user_id_entry_date", "org_id", "user_id", "entry_date"),
        # The org's entries of a period (the org-wide summary): one range of one index.
        Index("ix_time_entries_org_id_entry_date", "org_id", "entry_date"),
        Index("ix_time_entries_project_id_entry_date", "project_id", "entry_date"),
        Index("ix_time_entries_issue_id", "issue_id"),
        Index(
            "uq_time_entries_running_timer",
            "org_id",
            "user_id",
            unique=True,
            sqlite_where=text("running"),
            postgresql_where=text("running"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # Logged time outlives the issue it was logged on (it may be invoiced already).
    issue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    minutes: Mapped[int | None] = mapped_column(Integer)
    entry_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    billable: Mapped[bool] = mapped_column(Boolean, default=True)
    running: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auto_stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by invoicing (its own domain): an invoiced entry is locked.
    invoice_id: Mapped[uuid.UUID | None] = mapped_column()
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
