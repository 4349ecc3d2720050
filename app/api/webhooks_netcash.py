"""NetCash postbacks (DESIGN §5.6, §5.9): the signed or declined eMandate and the Pay Now
notify, under /api/webhooks/netcash.

NetCash signs nothing: each postback URL carries our secret in its query string
(`?key=NETCASH_WEBHOOK_SECRET`), compared in constant time; a wrong or missing key is
refused (403). A well-formed postback that matches nothing is answered 200 (so NetCash stops
retrying) and kept in the postback log. The routes are exempt from CSRF: NetCash is no
browser with our session.
"""

import hmac

from flask import Blueprint, abort, current_app, request

from app.debit_orders import apply_mandate_postback
from app.extensions import csrf, db
from app.paynow import apply_paynow_notify

netcash_webhooks = Blueprint("netcash_webhooks", __name__, url_prefix="/api/webhooks/netcash")
csrf.exempt(netcash_webhooks)


@netcash_webhooks.before_request
def require_secret():
    """Only NetCash knows the secret in the postback URL."""
    expected = current_app.config.get("NETCASH_WEBHOOK_SECRET") or ""
    given = request.args.get("key", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(403)


@netcash_webhooks.post("/emandate")
def emandate():
    """A mandate was signed or declined."""
    outcome = apply_mandate_postback(request.form.to_dict())
    db.session.commit()
    return {"outcome": outcome.outcome}, 200


@netcash_webhooks.post("/paynow")
def paynow():
    """The outcome of a Pay Now payment."""
    outcome = apply_paynow_notify(request.form.to_dict())
    db.session.commit()
    return {"outcome": outcome.outcome}, 200
