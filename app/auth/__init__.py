"""Log-in, API tokens and the current user."""
