"""Portal pages: payment_methods."""
