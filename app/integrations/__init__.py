"""Clients of the outside providers (DESIGN §2): Interstellio, NetCash, SMS gateways, SMTP.

They are the production clients; `make run`, `flask billing simulate` and the tests point
them at the sandbox servers of `app.integrations.sandbox` by base URL, never at mocks.
"""
