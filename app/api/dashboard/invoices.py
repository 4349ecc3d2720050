"""/api/dashboard: invoices."""

OPENAPI_PATHS: dict = {}
OPENAPI_SCHEMAS: dict = {}
