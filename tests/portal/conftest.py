"""Portal fixtures: services to show (the customer login helper, `portal_auth`, is in
tests/conftest.py for every package)."""

from tests.billing.conftest import make_service  # noqa: F401 (a fixture, used by portal tests)
