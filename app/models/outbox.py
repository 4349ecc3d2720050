"""Outbox rows written in the same transaction as the change that asks for them:
notifications, provider calls; and one-time codes (DESIGN §2, §4, §5.10)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.database import JSONType, TimestampMixin, UTCDateTime, in_list
from app.extensions import db

NOTIFICATION_CHANNELS = ("sms", "email")
NOTIFICATION_STATUSES = ("queued", "sent", "delivered", "failed", "skipped")
PROVIDER_TASK_STATUSES = ("pending", "running", "done", "failed")
OTP_PURPOSES = ("payment_method", "login", "profile")


class Notification(TimestampMixin, db.Model):
    """An SMS or e-mail to send, and then its delivery log."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(in_list("channel", NOTIFICATION_CHANNELS), name="channel"),
        CheckConstraint(in_list("status", NOTIFICATION_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_notifications_status_next_attempt", "status", "next_attempt_at"),
    )

    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    context: Mapped[dict | None] = mapped_column(JSONType)
    # A rule that must notify once (e.g. "usage-80-<service>-<cycle>") sets this key.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProviderTask(TimestampMixin, db.Model):
    """A call to an outside provider (e.g. disable the subscriber on suspension)."""

    __tablename__ = "provider_tasks"
    __table_args__ = (
        CheckConstraint(in_list("status", PROVIDER_TASK_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_provider_tasks_status_next_attempt", "status", "next_attempt_at"),
    )

    provider: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(50))
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_services.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    payload: Mapped[dict | None] = mapped_column(JSONType)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OtpCode(TimestampMixin, db.Model):
    """A one-time code (only its hash is stored): 6 digits, 10 minutes, 3 attempts."""

    __tablename__ = "otp_codes"
    __table_args__ = (
        CheckConstraint(in_list("purpose", OTP_PURPOSES), name="purpose"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(30))
    code_hash: Mapped[str] = mapped_column(String(255))
    recipient: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
