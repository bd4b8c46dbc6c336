"""E-supervision (电子监察): yellow and red cards, urging notices, notifications, reports."""
