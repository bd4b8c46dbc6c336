"""The engine layer over SpiffWorkflow: safe loading, linting, running, serializing.

Nothing in this package imports Flask or touches a database.
"""
