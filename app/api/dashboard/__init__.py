"""The customer JSON API (/api/dashboard, DESIGN §7, §8): a module per area.

Only a logged-in customer gets an answer, and only about their own rows: anonymous → 401,
staff → 403, another customer's id → 404 (never "forbidden", which would confirm it
exists). Each area module also holds the OpenAPI description of its paths
(`OPENAPI_PATHS`, `OPENAPI_SCHEMAS`), merged into /api/openapi.json.
"""

from functools import wraps

from flask import Blueprint, request
from flask_login import current_user

from app.api.errors import ApiError
from app.audit import Actor

dashboard_api = Blueprint("dashboard_api", __name__, url_prefix="/dashboard")


def customer_api(view):
    """Let through only a logged-in customer."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if getattr(current_user, "is_staff", False):
            raise ApiError(403, "This API is for customers; staff use /api/admin.")
        if not (current_user.is_authenticated and getattr(current_user, "is_customer", False)):
            raise ApiError(401, "Log in to the customer portal to use this API.")
        return view(*args, **kwargs)

    return guarded


def current_customer_id() -> int:
    """The logged-in customer's id: every query of this API is scoped by it."""
    return current_user.customer.id


def customer_actor() -> Actor:
    return Actor.for_customer(current_user.customer, ip_address=request.remote_addr)


# The areas register their routes on `dashboard_api` (imported last: they import it from here).
from app.api.dashboard import invoices, payment_methods, services, summary  # noqa: E402, F401, I001

AREAS = (summary, services, invoices, payment_methods)
