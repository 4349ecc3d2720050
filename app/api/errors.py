"""JSON errors for the API (DESIGN §7): `{"error": {"code", "message", "fields"}}`.

Every failure under /api answers in this shape, also those raised before a view runs
(CSRF, an unknown path, a wrong method). Any error rolls the request's transaction back.
"""

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app.errors import DomainError
from app.extensions import db

# Error codes by HTTP status; DESIGN §7 names 400/401/403/404/409/422.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}


class ApiError(Exception):
    """A refusal decided at the API edge (no such resource, bad body, not allowed)."""

    def __init__(self, status: int, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}


def error_response(status: int, message: str, fields: dict | None = None):
    """The error body every API failure answers with."""
    error = {"code": CODES.get(status, "error"), "message": message, "fields": fields or {}}
    return jsonify({"error": error}), status


def _api_error(error: ApiError):
    db.session.rollback()
    return error_response(error.status, error.message, error.fields)


def _domain_error(error: DomainError):
    """A rule refused the action: 422 invalid input, 409 conflict, 403 not permitted."""
    db.session.rollback()
    fields = {error.field: error.message} if error.field else {}
    return error_response(error.status_code, error.message, fields)


def _http_error(error: HTTPException):
    """Werkzeug's errors (CSRF refusals are 400s) in our shape."""
    db.session.rollback()
    if isinstance(error, InternalServerError):  # Flask has logged the original exception
        return error_response(500, "Something went wrong on our side; nothing was changed.")
    return error_response(error.code or 500, error.description or error.name)


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _routing_error(error: HTTPException):
    """404 and 405 are raised before any blueprint is known: answer JSON under /api only."""
    if is_api_request():
        return _http_error(error)
    return error


def register_error_handlers(api) -> None:
    """JSON errors for every request routed to the API blueprint (or one nested in it)."""
    api.register_error_handler(ApiError, _api_error)
    api.register_error_handler(DomainError, _domain_error)
    api.register_error_handler(HTTPException, _http_error)


def register_unrouted_error_handlers(app: Flask) -> None:
    """JSON 404 and 405 for paths under /api that match no route (or not that method)."""
    app.register_error_handler(404, _routing_error)
    app.register_error_handler(405, _routing_error)
