"""The web application for staff: log-in, inbox, tasks, window, absences, admin.

Sessions come from Flask-Login, every form carries a CSRF token (Flask-WTF), pages speak
Simplified Chinese by default and English on request (Flask-Babel). Every view checks the
role and, through the services, the object; a refusal is a 403 page and a log line.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit

from babel import Locale
from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    has_request_context,
    render_template,
    request,
    session,
)
from flask_babel import Babel, format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader

from ..auth import sessions as web_sessions
from ..domains import domain_modules
from ..errors import AppError, Forbidden
from ..labels import role_name
from ..org.models import User
from . import i18n

LANGUAGES = {"zh": "中文", "en": "English"}
log = logging.getLogger("onewindow.security")

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
bp = Blueprint("web", __name__)


# the languages as Babel's locales, made once: Flask-Babel parses a code at every request,
# which looks for the locale's data on disk each time
_LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


def _locale() -> Locale | str:
    # outside a request (the CLI loading the catalogue, the scheduler) the default language
    lang = session.get("lang") if has_request_context() else None
    code = lang if lang in LANGUAGES else current_app.config.get("DEFAULT_LANGUAGE", "zh")
    return _LOCALES.get(code, code)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return web_sessions.user_for(session_id)  # a live session's row, an active user


def safe_next(target: str | None, default: str) -> str:
    """Return `target` if it is a path on this site, else `default` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def role_required(*roles: str):
    """Require a logged-in user holding one of `roles`; others get a logged 403."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.has_role(*roles):
                raise Forbidden(_("This page needs one of the roles: %(roles)s",
                                  roles=", ".join(role_name(r) for r in roles)))  # fmt: skip
            return view(*args, **kwargs)

        wrapper.roles = roles
        return wrapper

    return decorate


def local_time(value: dt.datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a stored (naive UTC) time in the centre's time zone."""
    if value is None:
        return "—"
    return format_datetime(value.replace(tzinfo=dt.UTC), fmt)


def _log_forbidden(message: str) -> None:
    user = getattr(current_user, "username", None) or "anonymous"
    log.warning("forbidden: %s %s by %s: %s", request.method, request.path, user, message)


def _template_loader(app: Flask) -> ChoiceLoader:
    """The app-wide templates (layout, macros, log-in, errors), then each domain's own.

    A domain keeps its pages' templates in `app/<domain>/templates/`, under names that say
    the domain (`complaints/detail.html`), so no two folders hold the same name.
    """
    root = Path(app.root_path)
    folders = [root / "templates"] + sorted(p for p in root.glob("*/templates") if p.is_dir())
    return ChoiceLoader([FileSystemLoader(str(f)) for f in folders])


def init_app(app: Flask) -> None:
    """Wire sessions, CSRF, languages, error pages and headers, and the page blueprints."""
    app.jinja_loader = _template_loader(app)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["CENTRE_TIMEZONE"])
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.session_protection = "strong"
    login_manager.login_message = None
    csrf.init_app(app)
    i18n.compile_stale_catalogues(app)
    babel.init_app(app, locale_selector=_locale)

    from . import login  # noqa: F401  (log-in, log-out, language, home: routes on bp)

    for name in domain_modules("pages"):
        importlib.import_module(name)
    app.register_blueprint(bp)
    from . import present

    app.jinja_env.globals.update(
        LANGUAGES=LANGUAGES, role_name=role_name, local_time=local_time, get_locale=get_locale,
        status_name=present.status_name, outcome_name=present.outcome_name,
        colour_name=present.colour_name, event_name=present.event_name,
        event_detail=present.event_detail, mask_id=present.mask_id,
        mask_phone=present.mask_phone, stage_name=present.stage_name,
        material_form=present.material_form, fault_name=present.fault_name,
        fault_step_name=present.fault_step_name, provisional_at=present.provisional_at,
        pause_kind_name=present.pause_kind_name,
        button_name=present.button_name, delivery_name=present.delivery_name,
        element_type_name=present.element_type_name, absence_kind_name=present.absence_kind_name,
        department_kind_name=present.department_kind_name, limit_text=present.limit_text,
        application_step_name=present.application_step_name, actor_name=present.actor_name,
        data_value=present.data_value, task_reason=present.task_reason,
        diff_aspect_name=present.diff_aspect_name, run_status_name=present.run_status_name,
        task_kind=present.task_kind, task_kind_name=present.task_kind_name,
    )  # fmt: skip
    app.jinja_env.filters["role_name"] = role_name
    app.jinja_env.filters["local"] = present.iso_local
    app.jinja_env.filters["code_marks"] = present.code_marks

    app.context_processor(_unread)
    app.before_request(_session_limits)
    app.after_request(_headers)
    app.errorhandler(CSRFError)(_csrf_error)


def _unread() -> dict:
    if request.path.startswith("/api/") or not current_user.is_authenticated:
        return {}
    from ..supervision.services import unread_count

    return {"unread": unread_count(current_user)}


def forget_login() -> None:
    """Log this browser out: a fresh cookie that keeps only the chosen language."""
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang


def _session_limits():
    """Drop a cookie whose session ended or expired (its row says so: the user loader
    refuses it, WEB_SESSION_MAX_HOURS after the log-in or the idle time after its last use)."""
    if request.path.startswith(("/api/", "/static/")):
        return None
    if not current_user.is_authenticated:
        if "_user_id" in session:
            forget_login()
        return None
    g.user = current_user
    return None


def _headers(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE") or request.is_secure:  # behind HTTPS
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not request.path.startswith("/api/"):
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if current_user.is_authenticated:
            resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _csrf_error(exc: CSRFError):
    _log_forbidden(f"CSRF: {exc.description}")
    message = _("The form was out of date or not sent from this site. Reload and try again.")
    return render_template("error.html", status=400, message=message), 400


@bp.errorhandler(AppError)
def _app_error(exc: AppError):
    if isinstance(exc, Forbidden):
        _log_forbidden(exc.message)
    return render_template("error.html", status=exc.status, message=exc.message), exc.status


def error_page(exc) -> tuple[str, int]:
    """Render an HTTP error (404, 405, 413 ...) as a page."""
    code = getattr(exc, "code", 500) or 500
    if code == 403:
        _log_forbidden(getattr(exc, "description", ""))
    messages = {
        403: _("You may not see this page."),
        404: _("There is no such page, or you may not see it."),
        405: _("This address does not take that kind of request."),
        413: _("The upload is too large."),
    }
    message = messages.get(code, _("Something went wrong; it has been logged."))
    return render_template("error.html", status=code, message=message), code


__all__ = ["bp", "error_page", "forget_login", "role_required", "safe_next"]
