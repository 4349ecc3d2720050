"""The JSON API under /api (DESIGN §7): the admin endpoints, and the OpenAPI document that
describes them. Session cookie auth; unsafe methods carry the page's CSRF token in the
X-CSRFToken header (Flask-WTF's CSRFProtect checks it before any view runs)."""

from flask import Blueprint, Flask, jsonify

from app.api.admin import admin_api
from app.api.dashboard import dashboard_api
from app.api.errors import register_error_handlers, register_unrouted_error_handlers
from app.api.openapi import openapi_document

api = Blueprint("api", __name__, url_prefix="/api")
api.register_blueprint(admin_api)
api.register_blueprint(dashboard_api)
register_error_handlers(api)


@api.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())


def register_api(app: Flask) -> None:
    """Mount the API and its JSON error handlers."""
    app.register_blueprint(api)
    register_unrouted_error_handlers(app)
