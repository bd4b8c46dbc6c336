"""The cases domain's pages: the inbox and task pages, the case page, the window."""
