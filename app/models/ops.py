"""Audit log, settings, job runs and dunning actions (DESIGN §4, §5.5, §6)."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.database import JSONType, TimestampMixin, UTCDateTime, in_list
from app.extensions import db

JOB_STATUSES = ("running", "completed", "partial", "failed")
TRIGGER_SOURCES = ("scheduled", "manual", "api", "simulate", "cli")
DUNNING_RULES = (
    "payment_reminder",
    "debit_announcement",
    "overdue_notice",
    "suspension",
    "reactivation",
)


class AuditLog(TimestampMixin, db.Model):
    """Append-only record of a console change: who, when, why, before and after.

    On PostgreSQL a trigger refuses UPDATE and DELETE on this table (see the migration).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason_required"),
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_customer_created", "customer_id", "created_at"),
    )

    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(255))  # staff e-mail, or "system"
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(50))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    ip_address: Mapped[str | None] = mapped_column(String(45))


class Setting(TimestampMixin, db.Model):
    """An operator setting that changes over time: the row in force on a date wins."""

    __tablename__ = "settings"
    __table_args__ = (
        Index("uq_settings_key_effective_from", "key", "effective_from", unique=True),
    )

    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)

    def __str__(self) -> str:
        return f"{self.key} = {self.value} (from {self.effective_from})"


class CronExecutionLog(TimestampMixin, db.Model):
    """One row per job run, with counts."""

    __tablename__ = "cron_execution_log"
    __table_args__ = (
        CheckConstraint(in_list("status", JOB_STATUSES), name="status"),
        CheckConstraint(in_list("trigger_source", TRIGGER_SOURCES), name="trigger_source"),
        CheckConstraint(
            "records_processed >= 0 AND records_failed >= 0 AND records_skipped >= 0",
            name="counts_non_negative",
        ),
        Index("ix_cron_execution_log_job_start", "job_name", "execution_start"),
    )

    job_name: Mapped[str] = mapped_column(String(100))
    business_date: Mapped[date | None] = mapped_column(Date)
    execution_start: Mapped[datetime] = mapped_column(UTCDateTime)
    execution_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Numeric(12, 3, asdecimal=False))
    status: Mapped[str] = mapped_column(String(20), default="running")
    records_processed: Mapped[int] = mapped_column(Integer, default=0)
    records_failed: Mapped[int] = mapped_column(Integer, default=0)
    records_skipped: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[dict | None] = mapped_column(JSONType)
    trigger_source: Mapped[str] = mapped_column(String(20), default="scheduled")
    triggered_by: Mapped[str | None] = mapped_column(String(255))
    execution_details: Mapped[dict | None] = mapped_column(JSONType)
    # A run fanned out to several workers (the invoice run): its chunks, and how many of
    # them have committed. Null for runs done in one piece.
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DunningAction(TimestampMixin, db.Model):
    """Each dunning rule acts once per invoice and collection attempt."""

    __tablename__ = "dunning_actions"
    __table_args__ = (
        CheckConstraint(in_list("rule", DUNNING_RULES), name="rule"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        Index(
            "uq_dunning_actions_invoice_rule_attempt", "invoice_id", "rule", "attempt", unique=True
        ),
    )

    invoice_id: Mapped[int] = mapped_column(ForeignKey("customer_invoices.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(String(30))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    acted_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(50))
    details: Mapped[dict | None] = mapped_column(JSONType)
