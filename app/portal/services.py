"""Portal pages: services."""
