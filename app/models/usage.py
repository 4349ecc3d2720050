"""Daily data usage and the cap-alert guard (DESIGN §4, §5.8)."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Computed, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Money, TimestampMixin, UTCDateTime, in_list
from app.extensions import db

USAGE_SOURCES = ("interstellio", "manual", "estimated")
USAGE_THRESHOLDS = (80, 95)


class Megabytes(Money):
    """Megabytes to two decimals, stored exactly like money (cents on SQLite)."""

    cache_ok = True


class UsageHistory(TimestampMixin, db.Model):
    __tablename__ = "usage_history"
    __table_args__ = (
        CheckConstraint(in_list("source", USAGE_SOURCES), name="source"),
        CheckConstraint("upload_mb >= 0", name="upload_mb_non_negative"),
        CheckConstraint("download_mb >= 0", name="download_mb_non_negative"),
        Index("uq_usage_history_service_date", "service_id", "date", unique=True),
    )

    service_id: Mapped[int] = mapped_column(ForeignKey("customer_services.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    upload_mb: Mapped[Decimal] = mapped_column(Megabytes, default=Decimal("0.00"))
    download_mb: Mapped[Decimal] = mapped_column(Megabytes, default=Decimal("0.00"))
    total_mb: Mapped[Decimal] = mapped_column(
        Megabytes, Computed("upload_mb + download_mb", persisted=True)
    )
    billing_cycle_start: Mapped[dt.date | None] = mapped_column(Date)
    billing_cycle_end: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20), default="interstellio")
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class UsageAlert(TimestampMixin, db.Model):
    """One row per service, cycle and threshold: the guard against repeated warnings."""

    __tablename__ = "usage_alerts"
    __table_args__ = (
        CheckConstraint(in_list("threshold", USAGE_THRESHOLDS), name="threshold"),
        Index(
            "uq_usage_alerts_service_cycle_threshold",
            "service_id",
            "cycle_start",
            "threshold",
            unique=True,
        ),
    )

    service_id: Mapped[int] = mapped_column(ForeignKey("customer_services.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    cycle_start: Mapped[dt.date] = mapped_column(Date)
    threshold: Mapped[int] = mapped_column(Integer)
    used_mb: Mapped[Decimal] = mapped_column(Megabytes)
    cap_mb: Mapped[Decimal] = mapped_column(Megabytes)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
