"""SMS delivery callbacks: /api/webhooks/sms/clickatell and /api/webhooks/sms/bulksms.

Neither gateway signs its callbacks, so the callback URL carries our secret
(`?secret=<SMS_CALLBACK_SECRET>`, the vendors' own advice; integrations.md §3.1, §3.3). A
wrong or missing secret answers 403 and changes nothing. A well-formed report about a
message we do not know answers 200 (and is logged) so the gateway stops retrying it.
"""

import hmac
import logging

from flask import Blueprint, current_app, jsonify, request

from app.api.errors import error_response, register_error_handlers
from app.extensions import csrf, db
from app.integrations.sms import parse_bulksms_callback, parse_clickatell_callback
from app.notifications.delivery import record_delivery_report

log = logging.getLogger(__name__)

sms_webhooks = Blueprint("sms_webhooks", __name__, url_prefix="/api/webhooks/sms")
csrf.exempt(sms_webhooks)  # gateways post JSON without our session: the secret guards it
register_error_handlers(sms_webhooks)


@sms_webhooks.post("/clickatell")
def clickatell_status():
    """Clickatell One API message status callback."""
    return _apply(parse_clickatell_callback, "clickatell")


@sms_webhooks.post("/bulksms")
def bulksms_status():
    """BulkSMS delivery report webhook (an array of Message objects)."""
    return _apply(parse_bulksms_callback, "bulksms")


def _secret_matches() -> bool:
    expected = current_app.config.get("SMS_CALLBACK_SECRET") or ""
    given = request.args.get("secret", "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _apply(parse, provider: str):
    if not _secret_matches():
        log.warning("%s callback from %s refused: wrong secret", provider, request.remote_addr)
        return error_response(403, "The callback secret is wrong.")
    payload = request.get_json(silent=True)
    try:
        if payload is None:
            raise ValueError("the body is not JSON")
        reports = parse(payload)
    except ValueError as error:
        log.warning("%s callback refused: %s", provider, error)
        return error_response(400, f"Not a {provider} delivery report: {error}.")
    matched = sum(record_delivery_report(report) is not None for report in reports)
    db.session.commit()
    if matched < len(reports):
        log.info(
            "%s callback: %d of %d reports matched no message",
            provider,
            len(reports) - matched,
            len(reports),
        )
    return jsonify({"received": len(reports), "matched": matched})
