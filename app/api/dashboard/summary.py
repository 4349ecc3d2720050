"""/api/dashboard: summary."""

OPENAPI_PATHS: dict = {}
OPENAPI_SCHEMAS: dict = {}
