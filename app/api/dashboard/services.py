"""/api/dashboard: services."""

OPENAPI_PATHS: dict = {}
OPENAPI_SCHEMAS: dict = {}
