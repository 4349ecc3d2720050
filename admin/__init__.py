"""Flask-Admin console: views, reason forms, action pages, the customer page."""

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin.views import SecureIndexView


def build_admin(app) -> Admin:
    """Create the console for this app (a new Admin per app: see ecosystem-notes A.1)."""
    admin = Admin(
        app,
        name=f"{app.config['BRAND_NAME']} Console",
        url="/admin",
        index_view=SecureIndexView(url="/admin", name="Dashboard"),
        theme=Bootstrap4Theme(swatch="flatly", base_template="admin/isp_base.html"),
    )
    return admin
