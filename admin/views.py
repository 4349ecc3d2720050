"""The console's base views: access control by permission, in one place."""

from flask import abort, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user


def staff_can(permission: str) -> bool:
    return bool(getattr(current_user, "is_staff", False) and current_user.can(permission))


def deny_or_login():
    """Anonymous users go to the login page; logged-in staff without permission get 403."""
    if not getattr(current_user, "is_authenticated", False):
        return redirect(url_for("staff_auth.login", next=request.full_path))
    abort(403)


class SecureIndexView(AdminIndexView):
    """The console home page, for any logged-in staff user."""

    def is_accessible(self):
        return getattr(current_user, "is_staff", False)

    def inaccessible_callback(self, name, **kwargs):
        return deny_or_login()

    @expose("/")
    def index(self):
        return self.render("admin/dashboard.html")
