"""The public Pay Now page: /pay/<reference> sends the payer on to NetCash (DESIGN §5.9).

The link in a message points here, not at NetCash, so that the form (amount, reference,
our secret in an Extra field) is built from the payment request when the link is opened.
"""

from flask import Blueprint, render_template

from app.integrations.http import ProviderNotConfigured
from app.paynow import find_request, pay_form

pay = Blueprint("pay", __name__)


@pay.get("/pay/<reference>")
def pay_page(reference):
    """Post the request's Pay Now form to NetCash (at once, with a button as fallback)."""
    try:
        form = pay_form(reference)
    except ProviderNotConfigured:
        return render_template("paynow/unavailable.html"), 503
    if form is None:
        payment_request = find_request(reference)
        status = 404 if payment_request is None else 410
        return (
            render_template(
                "paynow/unavailable.html",
                payment_request=payment_request,
                unknown=payment_request is None,
            ),
            status,
        )
    return render_template("paynow/pay.html", form=form)
