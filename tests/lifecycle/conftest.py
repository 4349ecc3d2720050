"""Lifecycle fixtures reuse the billing ones (services ready to bill)."""

from tests.billing.conftest import billing_actor, make_service  # noqa: F401
