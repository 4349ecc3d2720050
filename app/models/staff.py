"""Staff accounts of the admin console (roles and permissions live in app/auth.py)."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.database import TimestampMixin, UTCDateTime, in_list
from app.extensions import db

STAFF_ROLES = ("admin", "support", "finance", "viewer")


class StaffUser(TimestampMixin, db.Model):
    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(in_list("role", STAFF_ROLES), name="role"),)

    email: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on password change or deactivation: older sessions stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


Index("uq_staff_users_email_lower", func.lower(StaffUser.email), unique=True)
