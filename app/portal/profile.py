"""Portal pages: profile."""
