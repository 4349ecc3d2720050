"""Customer portal pages (DESIGN §7, §8): one blueprint, a module per area.

Every page is for a logged-in customer and shows only that customer's rows: anonymous
visitors are sent to the login page, staff are refused (they have the console). Routes stay
thin: they parse, call a read model in app.customer_views or a domain operation, and render.
"""

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.audit import Actor
from app.auth import end_expired_session
from app.errors import DomainError

portal = Blueprint("portal", __name__)


def is_customer() -> bool:
    return bool(getattr(current_user, "is_customer", False) and current_user.is_authenticated)


def current_customer():
    """The logged-in customer (only inside a customer_required view)."""
    return current_user.customer


def customer_actor() -> Actor:
    """The actor for the logged-in customer's own changes."""
    return Actor.for_customer(current_user.customer, ip_address=request.remote_addr)


def customer_required(view):
    """Only a logged-in customer reaches the view: anonymous → login, staff → 403."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if getattr(current_user, "is_staff", False):
            abort(403, "This page is for customers; staff use the console.")
        if not is_customer():
            return redirect(url_for("portal.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


# The navigation tabs: (key, label, endpoint); a page sets `active_page` to its key.
NAVIGATION = (
    ("dashboard", "Dashboard", "portal.dashboard"),
    ("services", "Services", "portal.services"),
    ("invoices", "Invoices", "portal.invoices"),
    ("usage", "Usage", "portal.usage"),
    ("billing", "Billing", "portal.billing"),
    ("orders", "Orders", "portal.orders"),
    ("profile", "Profile", "portal.profile"),
)


@portal.app_context_processor
def navigation():
    def portal_navigation():
        return [
            (key, label, url_for(endpoint))
            for key, label, endpoint in NAVIGATION
            if endpoint in current_app.view_functions
        ]

    return {"portal_navigation": portal_navigation}


def form_error(form, error: DomainError) -> None:
    """Show a domain refusal on its field, or as a message when it names none."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


@portal.before_app_request
def expire_old_customer_sessions():
    """End a customer session 24 hours (CUSTOMER_SESSION_LIFETIME) after login."""
    end_expired_session("is_customer", "customer_login_at", "CUSTOMER_SESSION_LIFETIME")


# The areas register their routes on `portal` (imported last: they import it from here).
from app.portal import accounts, dashboard, invoices, payment_methods, profile, services  # noqa: E402, F401, I001
