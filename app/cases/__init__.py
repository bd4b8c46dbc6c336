"""Cases (办件) and their tasks."""
