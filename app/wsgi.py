"""The served application: create_app() plus the timer scheduler (gunicorn 'app.wsgi:app')."""

from . import create_app
from .scheduler import start_scheduler

app = create_app()
if app.config.get("SCHEDULER_ENABLED", True):
    start_scheduler(app)
