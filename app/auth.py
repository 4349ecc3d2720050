"""Staff login, roles and permissions (DESIGN §4, §8).

Staff and customers are separate principals: the session holds a typed id
(`staff:<id>:<version>`), so a customer id can never load a staff user. Staff sessions end
8 hours after login; a password change bumps `session_version` and ends older sessions.
"""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from app import clock
from app.audit import Actor, edit_record, record_audit, require_reason, snapshot
from app.errors import Conflict, InvalidInput
from app.extensions import db, limiter, login_manager
from app.models import StaffUser
from app.models.staff import STAFF_ROLES

ALL_PERMISSIONS = (
    "customers:view",
    "audit:view",
    "customers:edit",
    "services:activate",
    "services:suspend",
    "services:cancel",
    "services:change",
    "payments:record",
    "billing:manage",
    "payment_methods:view_full",
    "settings:edit",
    "staff:manage",
)

_VIEW = {"customers:view", "audit:view"}
_SERVICE_ACTIONS = {"services:activate", "services:suspend", "services:cancel", "services:change"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ALL_PERMISSIONS),
    "support": frozenset(_VIEW | {"customers:edit", "payments:record"} | _SERVICE_ACTIONS),
    "finance": frozenset(_VIEW | {"payments:record", "billing:manage"}),
    "viewer": frozenset(_VIEW),
}
MIN_PASSWORD_LENGTH = 10


def has_permission(user, permission: str) -> bool:
    """Whether a logged-in staff user's role grants `permission`."""
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return bool(
        getattr(user, "is_staff", False)
        and user.is_active
        and permission in ROLE_PERMISSIONS.get(user.role, ())
    )


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _validate_password(password: str | None) -> str:
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.",
            field="password",
        )
    return password


def find_staff_by_email(email: str) -> StaffUser | None:
    return db.session.scalar(
        select(StaffUser).where(func.lower(StaffUser.email) == (email or "").strip().lower())
    )


def create_staff_user(
    *, email: str, name: str, role: str, password: str, actor: Actor, reason: str
) -> StaffUser:
    """Create a staff account (e-mail unique regardless of case) with an audit row."""
    from app.accounts import normalise_email

    reason = require_reason(reason)
    email = normalise_email(email)
    if role not in STAFF_ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(STAFF_ROLES)}.", field="role")
    if not (name or "").strip():
        raise InvalidInput("A name is required.", field="name")
    if find_staff_by_email(email) is not None:
        raise Conflict(f"A staff user with e-mail {email} already exists.", field="email")
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(_validate_password(password)),
        is_active=True,
        session_version=1,
    )
    db.session.add(user)
    db.session.flush()
    record_audit(
        actor=actor,
        entity=user,
        action="create",
        reason=reason,
        before=None,
        after=snapshot(user),
    )
    return user


EDITABLE_STAFF_FIELDS = ("name", "role", "is_active")


def update_staff_user(user: StaffUser, *, actor: Actor, reason: str, **changes) -> StaffUser:
    """Change a staff user's name, role or active flag, with an audit row.

    A new role or a deactivation bumps `session_version`, so the user's open sessions end
    instead of keeping the old permissions. Nobody demotes or deactivates themselves: that
    is how the last administrator locks everyone out.
    """
    refused = set(changes) - set(EDITABLE_STAFF_FIELDS)
    if refused:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(refused))}.")
    if "role" in changes and changes["role"] not in STAFF_ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(STAFF_ROLES)}.", field="role")
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise InvalidInput("A name is required.", field="name")
    role_changes = changes.get("role", user.role) != user.role
    deactivates = user.is_active and changes.get("is_active", True) is False
    if user.id == actor.staff_user_id and (role_changes or deactivates):
        raise Conflict(
            "You cannot change your own role or deactivate your own account.",
            field="role" if role_changes else "is_active",
        )
    if role_changes or deactivates:
        changes["session_version"] = user.session_version + 1
    return edit_record(
        user,
        changes,
        actor=actor,
        reason=reason,
        allowed_fields=(*EDITABLE_STAFF_FIELDS, "session_version"),
    )


def set_staff_password(user: StaffUser, password: str, *, actor: Actor, reason: str) -> None:
    """Replace a staff password; every existing session of that user ends."""
    reason = require_reason(reason)
    user.password_hash = hash_password(_validate_password(password))
    user.session_version += 1
    db.session.flush()
    record_audit(
        actor=actor, entity=user, action="set_password", reason=reason, before=None, after=None
    )


def password_matches(password_hash: str | None, password: str | None) -> bool:
    """Whether `password` matches the hash; without a hash (no such login) it hashes anyway,
    so a missing account takes as long as a wrong password."""
    if not password_hash:
        check_password_hash(hash_password("timing-equaliser"), password or "")
        return False
    return check_password_hash(password_hash, password or "")


def authenticate_staff(email: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials, or None (same cost either way)."""
    user = find_staff_by_email(email)
    active_hash = user.password_hash if user is not None and user.is_active else None
    if not password_matches(active_hash, password):
        return None
    user.last_login_at = clock.now()
    return user


# --- Flask-Login principals -------------------------------------------------------------


class StaffPrincipal:
    """Flask-Login's view of a staff user."""

    is_staff = True
    is_customer = False
    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: StaffUser):
        self.user = user

    def __getattr__(self, name):
        return getattr(self.user, name)

    @property
    def is_active(self) -> bool:
        return self.user.is_active

    def get_id(self) -> str:
        return f"staff:{self.user.id}:{self.user.session_version}"

    def can(self, permission: str) -> bool:
        return has_permission(self, permission)


def load_principal(user_id: str):
    """Flask-Login user loader for typed ids; unknown or stale ids load nobody."""
    kind, _, rest = (user_id or "").partition(":")
    if kind == "staff":
        raw_id, _, version = rest.partition(":")
        if not raw_id.isdigit():
            return None
        user = db.session.get(StaffUser, int(raw_id))
        if user is None or not user.is_active or str(user.session_version) != version:
            return None
        return StaffPrincipal(user)
    if kind == "customer":
        from app.customer_accounts import load_customer_principal

        return load_customer_principal(rest)
    return None


def actor_for_request() -> Actor:
    """The actor for the logged-in staff user of this request."""
    return Actor.for_staff(current_user.user, ip_address=request.remote_addr)


# --- Staff login pages --------------------------------------------------------------------

staff_auth = Blueprint("staff_auth", __name__)


class StaffLoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def submitted_email() -> str:
    return (request.form.get("email") or "").strip().lower() or request.remote_addr


def failed_login(response) -> bool:
    # Only failed attempts count against the limit; a successful login redirects.
    return response.status_code != 302


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return default


def login_rate_limited(email_scope: str):
    """Failed logins limited per address and per submitted e-mail (LOGIN_RATE_LIMIT)."""

    def decorate(view):
        limit = lambda: current_app.config["LOGIN_RATE_LIMIT"]  # noqa: E731 (read per request)
        per_email = limiter.limit(
            limit,
            methods=["POST"],
            key_func=submitted_email,
            deduct_when=failed_login,
            scope=email_scope,
        )
        per_address = limiter.limit(limit, methods=["POST"], deduct_when=failed_login)
        return per_address(per_email(view))

    return decorate


def begin_session(principal, started_key: str) -> None:
    """A fresh session for `principal`, stamped with its login time (for the expiry check)."""
    session.clear()
    session.permanent = True
    login_user(principal)
    session[started_key] = clock.now().timestamp()


def end_expired_session(principal_flag: str, started_key: str, lifetime_setting: str) -> None:
    """Log out a principal of that kind whose login is older than its session lifetime,
    whatever the cookie's own lifetime."""
    if not getattr(current_user, principal_flag, False):
        return
    started = session.get(started_key)
    limit = current_app.config[lifetime_setting].total_seconds()
    if started is None or clock.now().timestamp() - started > limit:
        logout_user()
        session.clear()


@staff_auth.route("/admin/login", methods=["GET", "POST"])
@login_rate_limited("staff-login-email")
def login():
    """Staff log in with e-mail and password."""
    form = StaffLoginForm()
    if form.validate_on_submit():
        user = authenticate_staff(form.email.data, form.password.data)
        if user is not None:
            begin_session(StaffPrincipal(user), "staff_login_at")
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), url_for("admin.index")))
        flash("Wrong e-mail or password.", "error")
        return render_template("auth/staff_login.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("auth/staff_login.html", form=form), status


@staff_auth.route("/admin/logout", methods=["POST"])
@login_required
def logout():
    """End the staff session."""
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("staff_auth.login"))


def expire_old_staff_sessions():
    """End a staff session 8 hours (STAFF_SESSION_LIFETIME) after login."""
    end_expired_session("is_staff", "staff_login_at", "STAFF_SESSION_LIFETIME")


def register_auth(app) -> None:
    """Wire Flask-Login, the staff login routes and the session expiry check."""
    login_manager.init_app(app)
    login_manager.user_loader(load_principal)
    login_manager.login_view = "staff_auth.login"
    login_manager.session_protection = "basic"
    app.register_blueprint(staff_auth)
    app.before_request(expire_old_staff_sessions)
