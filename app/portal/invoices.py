"""Portal pages: invoices."""
