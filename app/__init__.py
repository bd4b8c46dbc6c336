"""OneWindow: licensing cases of a one-stop government service centre."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from config import Config

from . import db, jsonio, privacy, web
from .audit import keys as audit_keys
from .cases import runtime


def create_app(config: type[Config] | Config | None = None, **overrides) -> Flask:
    """Build the application: configuration, database, runtime, blueprints, commands."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config or Config)
    app.config.update(overrides)
    app.json = jsonio.FastJSONProvider(app)  # orjson underneath, UTF-8 out
    logging.basicConfig(level=logging.INFO)
    # SpiffWorkflow logs every task state change at INFO: far too costly per request.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs three lines for each fallback round (every 30 s): quiet unless asked
    logging.getLogger("apscheduler").setLevel(app.config.get("SCHEDULER_LOG_LEVEL", "WARNING"))

    privacy.configure(app.config)  # refuses to start without OW_DATA_KEY in production
    audit_keys.configure(app)  # and without OW_AUDIT_KEY
    db.init_app(app)
    runtime.init_app(app)

    from . import models  # noqa: F401  (register every table with the metadata)
    from .api import bp as api_bp
    from .cli import init_app as init_cli

    app.register_blueprint(api_bp)
    web.init_app(app)
    web.csrf.exempt(api_bp)  # the API takes bearer tokens, never cookies
    init_cli(app)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.name, "message": exc.description}), exc.code
        return web.error_page(exc)

    @app.errorhandler(500)
    def _server_error(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return jsonify(
                {
                    "error": "Internal Server Error",
                    "message": "something went wrong; it has been logged",
                }
            ), 500
        return web.error_page(exc)

    return app
