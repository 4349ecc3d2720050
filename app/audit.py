"""Who did what and why: actors, row snapshots and the append-only audit log."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import inspect, select

from app.database import json_safe
from app.errors import InvalidInput
from app.extensions import db
from app.models import AuditLog, ServiceActionLog

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


def edit_record(
    obj,
    changes: dict,
    *,
    actor: Actor,
    reason: str,
    allowed_fields: Iterable[str],
    customer_id: int | None = None,
):
    """Apply `changes` to a row (only `allowed_fields`), flush, and audit before/after.

    A row not yet in the session is added and audited as a create. Fields outside
    `allowed_fields` are refused, never silently dropped, so a form that offers a money or
    status field by mistake fails loudly instead of changing it.
    """
    reason = require_reason(reason)
    allowed = set(allowed_fields)
    if allowed & SENSITIVE_COLUMNS:
        raise ValueError(f"sensitive columns are never edited here: {allowed & SENSITIVE_COLUMNS}")
    refused = set(changes) - allowed
    if refused:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(refused))}.")
    is_new = inspect(obj).transient
    before = None if is_new else snapshot(obj)
    for field, value in changes.items():
        setattr(obj, field, value)
    if is_new:
        db.session.add(obj)
    db.session.flush()
    record_audit(
        actor=actor,
        entity=obj,
        action="create" if is_new else "update",
        reason=reason,
        before=before,
        after=snapshot(obj),
        customer_id=customer_id,
    )
    return obj


@dataclass(frozen=True)
class TimelineEntry:
    """One audited change on a customer's account, from either audit table."""

    at: datetime
    actor: str
    action: str
    subject: str
    reason: str
    changes: dict


def customer_timeline(customer_id: int, *, limit: int = 100) -> list[TimelineEntry]:
    """The customer's audit rows and service actions, newest first (two bounded queries)."""
    audit_rows = db.session.scalars(
        select(AuditLog)
        .where(AuditLog.customer_id == customer_id)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(limit)
    )
    service_rows = db.session.scalars(
        select(ServiceActionLog)
        .where(ServiceActionLog.customer_id == customer_id)
        .order_by(ServiceActionLog.created_at.desc(), ServiceActionLog.id.desc())
        .limit(limit)
    )
    entries = [
        TimelineEntry(
            at=row.created_at,
            actor=row.actor,
            action=row.action,
            subject=f"{row.entity_type} #{row.entity_id}",
            reason=row.reason,
            changes=changed_fields(row.before, row.after),
        )
        for row in audit_rows
    ]
    for row in service_rows:
        changes = changed_fields(row.previous_data, row.new_data)
        if row.previous_status != row.new_status and "status" not in changes:
            changes["status"] = (row.previous_status, row.new_status)
        entries.append(
            TimelineEntry(
                at=row.created_at,
                actor=row.actor,
                action=row.action_type,
                subject=f"service #{row.service_id}",
                reason=f"{row.reason} ({row.notes})" if row.notes else row.reason,
                changes=changes,
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
