"""Organisation: departments, users, posts."""
