"""The catalogue's pages: the public guide and results, and the analysts' workbench.

`diagrams` is the diagram chooser that every page drawing a BPMN file uses (the audit
replay as well); it draws, it reads nothing from the database.
"""
