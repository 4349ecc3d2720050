"""Portal dashboard: account number, stats cards, alerts (seed-spec-digest §5)."""

from flask import render_template

from app.portal import current_customer, customer_required, portal


@portal.route("/dashboard")
@customer_required
def dashboard():
    """Placeholder dashboard: who is logged in."""
    return render_template("portal/dashboard.html", customer=current_customer())
