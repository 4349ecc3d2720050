"""Who did what and why: actors, row snapshots and the append-only audit log."""

from dataclasses import dataclass

from sqlalchemy import inspect

from app.errors import InvalidInput
from app.extensions import db
from app.models import AuditLog
from app.database import json_safe

# Never copied into a snapshot, a page or an export.
SENSITIVE_COLUMNS = frozenset(
    {"password_hash", "portal_password_hash", "encrypted_details", "secret", "code_hash"}
)


@dataclass(frozen=True)
class Actor:
    """The staff user (or the system) on whose behalf a domain function acts."""

    label: str
    staff_user_id: int | None = None
    ip_address: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(label=label)

    @classmethod
    def for_staff(cls, user, ip_address: str | None = None) -> "Actor":
        return cls(label=user.email, staff_user_id=user.id, ip_address=ip_address)


def snapshot(obj) -> dict:
    """The row's column values as JSON-safe data, without secrets."""
    state = inspect(obj)
    return {
        attr.key: json_safe(getattr(obj, attr.key))
        for attr in state.mapper.column_attrs
        if attr.key not in SENSITIVE_COLUMNS
    }


def require_reason(reason: str | None) -> str:
    """A non-blank reason, trimmed; every state-changing console action needs one."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.", field="reason")
    return reason


def record_audit(
    *,
    actor: Actor,
    entity,
    action: str,
    reason: str,
    before: dict | None,
    after: dict | None,
    customer_id: int | None = None,
) -> AuditLog:
    """Add an audit row for a change to `entity` in the caller's transaction."""
    entry = AuditLog(
        staff_user_id=actor.staff_user_id,
        actor=actor.label,
        ip_address=actor.ip_address,
        entity_type=entity.__tablename__,
        entity_id=str(entity.id) if entity.id is not None else None,
        customer_id=customer_id,
        action=action,
        reason=require_reason(reason),
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry


def changed_fields(before: dict | None, after: dict | None) -> dict:
    """{field: (old, new)} for the fields whose values differ (timestamps ignored)."""
    before, after = before or {}, after or {}
    keys = (set(before) | set(after)) - {"updated_at", "created_at"}
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(keys)
        if before.get(key) != after.get(key)
    }
