"""/api/dashboard: payment_methods."""

OPENAPI_PATHS: dict = {}
OPENAPI_SCHEMAS: dict = {}
