"""The catalogue of licensing items and the deployed diagram versions."""
