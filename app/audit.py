"""Who did what and why: actors, row snapshots and the append-only audit log."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, inspect, literal_column, select, union, union_all

from app.clock import business_datetime
from app.database import json_safe
from app.errors import InvalidInput
from app.extensions import db
from app.models import AuditLog, ServiceActionLog, StaffUser

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

    @classmethod
    def for_customer(cls, customer, ip_address: str | None = None) -> "Actor":
        """A customer acting on their own account in the portal (audited by account number)."""
        return cls(label=f"customer {customer.account_number}", ip_address=ip_address)


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
    notes: str | None = None
    service_id: int | None = None


@dataclass(frozen=True)
class TimelineFilter:
    """What a person narrows a timeline to; an empty field does not filter.

    `actor` matches part of the actor label in any case; `since` and `until` are business
    (SAST) dates, both inclusive.
    """

    action: str | None = None
    actor: str | None = None
    since: date | None = None
    until: date | None = None

    def conditions(self, *, action_column, actor_column, at_column) -> list:
        conditions = []
        if self.action:
            conditions.append(action_column == self.action)
        if self.actor:
            conditions.append(actor_column.icontains(self.actor, autoescape=True))
        if self.since:
            conditions.append(at_column >= business_datetime(self.since))
        if self.until:
            conditions.append(at_column < business_datetime(self.until + timedelta(days=1)))
        return conditions


NO_FILTER = TimelineFilter()


@dataclass(frozen=True)
class TimelinePage:
    """One page of a timeline and how many entries match in all."""

    total: int
    entries: list[TimelineEntry]


def _audit_entry(row: AuditLog) -> TimelineEntry:
    return TimelineEntry(
        at=row.created_at,
        actor=row.actor,
        action=row.action,
        subject=f"{row.entity_type} #{row.entity_id}",
        reason=row.reason,
        changes=changed_fields(row.before, row.after),
    )


def _service_entry(row: ServiceActionLog) -> TimelineEntry:
    return TimelineEntry(
        at=row.created_at,
        actor=row.actor,
        action=row.action_type,
        subject=f"service #{row.service_id}",
        reason=row.reason,
        changes=service_action_changes(row),
        notes=row.notes,
        service_id=row.service_id,
    )


def _customer_timeline_keys(customer_id: int, flt: TimelineFilter):
    """(source, row id, at) of the customer's rows in both audit tables, as one subquery."""
    audit_rows = select(
        literal_column("'audit'").label("source"),
        AuditLog.id.label("row_id"),
        AuditLog.created_at.label("at"),
    ).where(
        AuditLog.customer_id == customer_id,
        *flt.conditions(
            action_column=AuditLog.action,
            actor_column=AuditLog.actor,
            at_column=AuditLog.created_at,
        ),
    )
    service_rows = select(
        literal_column("'service'").label("source"),
        ServiceActionLog.id.label("row_id"),
        ServiceActionLog.created_at.label("at"),
    ).where(
        ServiceActionLog.customer_id == customer_id,
        *flt.conditions(
            action_column=ServiceActionLog.action_type,
            actor_column=ServiceActionLog.actor,
            at_column=ServiceActionLog.created_at,
        ),
    )
    return union_all(audit_rows, service_rows).subquery()


def _customer_timeline_entries(keys, *, limit: int, offset: int) -> list[TimelineEntry]:
    """One page of the merged keys, newest first, loaded in two more bounded queries."""
    page = db.session.execute(
        select(keys.c.source, keys.c.row_id)
        .order_by(keys.c.at.desc(), keys.c.source, keys.c.row_id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    wanted = {"audit": [], "service": []}
    for source, row_id in page:
        wanted[source].append(row_id)
    loaded = {}
    if wanted["audit"]:
        for row in db.session.scalars(select(AuditLog).where(AuditLog.id.in_(wanted["audit"]))):
            loaded["audit", row.id] = _audit_entry(row)
    if wanted["service"]:
        for row in db.session.scalars(
            select(ServiceActionLog).where(ServiceActionLog.id.in_(wanted["service"]))
        ):
            loaded["service", row.id] = _service_entry(row)
    return [loaded[source, row_id] for source, row_id in page]


def customer_timeline(customer_id: int, *, limit: int = 100) -> list[TimelineEntry]:
    """The customer's newest audit rows and service actions, newest first."""
    return _customer_timeline_entries(
        _customer_timeline_keys(customer_id, NO_FILTER), limit=limit, offset=0
    )


def customer_timeline_page(
    customer_id: int, flt: TimelineFilter = NO_FILTER, *, limit: int, offset: int
) -> TimelinePage:
    """One page of the customer's timeline (both audit tables merged), filtered."""
    keys = _customer_timeline_keys(customer_id, flt)
    total = db.session.scalar(select(func.count()).select_from(keys))
    return TimelinePage(
        total=total, entries=_customer_timeline_entries(keys, limit=limit, offset=offset)
    )


def service_timeline_page(
    service_id: int, flt: TimelineFilter = NO_FILTER, *, limit: int, offset: int
) -> TimelinePage:
    """One page of the service's action log as timeline entries, filtered."""
    history = service_action_history(service_id, flt, limit=limit, offset=offset)
    return TimelinePage(
        total=history.total, entries=[_service_entry(log) for log, _ in history.entries]
    )


def timeline_actions(*, customer_id: int | None = None, service_id: int | None = None):
    """The actions recorded on a customer's (or a service's) timeline, for a filter."""
    if service_id is not None:
        actions = (
            select(ServiceActionLog.action_type)
            .where(ServiceActionLog.service_id == service_id)
            .distinct()
        )
    else:
        actions = union(
            select(AuditLog.action).where(AuditLog.customer_id == customer_id),
            select(ServiceActionLog.action_type).where(ServiceActionLog.customer_id == customer_id),
        )
    return sorted(db.session.scalars(actions))


def service_action_changes(row: ServiceActionLog) -> dict:
    """{field: (old, new)} of a service action, the status change always included."""
    changes = changed_fields(row.previous_data, row.new_data)
    if row.previous_status != row.new_status and "status" not in changes:
        changes["status"] = (row.previous_status, row.new_status)
    return changes


def latest_service_action_id(service_id: int) -> int | None:
    """The id of the newest action logged on the service (None before the first)."""
    return db.session.scalar(
        select(func.max(ServiceActionLog.id)).where(ServiceActionLog.service_id == service_id)
    )


@dataclass(frozen=True)
class ServiceActionPage:
    """One page of a service's action log and how many entries there are in all."""

    total: int
    entries: list[tuple[ServiceActionLog, StaffUser | None]]


def service_action_history(
    service_id: int, flt: TimelineFilter = NO_FILTER, *, limit: int, offset: int
) -> ServiceActionPage:
    """The service's action log newest first, each entry with the staff user who acted
    (None for the system); two bounded queries."""
    conditions = [
        ServiceActionLog.service_id == service_id,
        *flt.conditions(
            action_column=ServiceActionLog.action_type,
            actor_column=ServiceActionLog.actor,
            at_column=ServiceActionLog.created_at,
        ),
    ]
    total = db.session.scalar(select(func.count()).select_from(ServiceActionLog).where(*conditions))
    rows = db.session.execute(
        select(ServiceActionLog, StaffUser)
        .outerjoin(StaffUser, StaffUser.id == ServiceActionLog.staff_user_id)
        .where(*conditions)
        .order_by(ServiceActionLog.created_at.desc(), ServiceActionLog.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return ServiceActionPage(total=total, entries=[(log, staff) for log, staff in rows])
