"""Webhook endpoints and their deliveries. Events are not copied here: they are read from the
record (``core.record``), and a delivery names the event it sends."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from projekt.core.db import Base, JSONList, UTCDateTime, new_id


class Webhook(Base):
    """An endpoint of one org (or one of its projects), with its place in the org's record."""

    __tablename__ = "webhooks"
    __table_args__ = (
        Index("ix_webhooks_org_id_created_at", "org_id", "created_at"),
        # What the deliverers look for: active endpoints with work due.
        Index("ix_webhooks_active_next_run_at", "active", "next_run_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    # A project-scoped endpoint goes with its project.
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSONList)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Signing secrets, sealed with AES-GCM (``webhooks.signing.SecretBox``); the previous one
    # keeps signing beside the new one until ``previous_secret_expires_at``.
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Since when every attempt failed (None after a success): 3 days of it disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Delivery state: the last org seq turned into deliveries (or skipped), the next position
    # in this endpoint's queue, when it next has work due, and which worker holds it until when.
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    next_position: Mapped[int] = mapped_column(BigInteger, default=1)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event (or ping) to send to one endpoint, sent in ``position`` order, one at a time."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The endpoint's queue: its first pending delivery is the one to send.
        Index(
            "ix_webhook_deliveries_webhook_id_status_position", "webhook_id", "status", "position"
        ),
        Index("ix_webhook_deliveries_webhook_id_position", "webhook_id", "position", unique=True),
        # What retention prunes: finished deliveries by age.
        Index("ix_webhook_deliveries_completed_at", "completed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    # The record's event id: the ``webhook-id`` header, the same on every attempt and redelivery.
    event_id: Mapped[uuid.UUID] = mapped_column()
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # event | redelivery | replay | ping
    # The body exactly as sent (the same bytes on every attempt).
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
