"""Configuration classes; every setting can be overridden from the environment."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


class Config:
    """Settings for running the service; defaults give the embedded SQLite demo."""

    # the demo (make run sets OW_DEMO=1): the development secret and data key are allowed;
    # anywhere else the service refuses to start with them (app/privacy.py)
    DEMO = _env_bool("OW_DEMO", False)
    # `flask load-demo-history` (make run) gives a new demo centre months of past cases; 0: empty
    DEMO_HISTORY = _env_bool("OW_DEMO_HISTORY", True)
    SECRET_KEY = os.environ.get("OW_SECRET_KEY", "dev-only-change-me")
    # base64 32-byte key(s) sealing ID and phone numbers at rest; the first seals (privacy.py)
    DATA_KEY = os.environ.get("OW_DATA_KEY", "")
    # the audit trail's keys, never in the database (app/audit/keys.py): base64 32-byte HMAC
    # key(s) sealing every event (the first seals), the Ed25519 seed signing checkpoints
    # (unset: derived from the audit key) and retired checkpoint public keys
    AUDIT_KEY = os.environ.get("OW_AUDIT_KEY", "")
    CHECKPOINT_KEY = os.environ.get("OW_CHECKPOINT_KEY", "")
    CHECKPOINT_TRUSTED_KEYS = os.environ.get("OW_CHECKPOINT_TRUSTED_KEYS", "")
    # the append-only file of signed checkpoints (outside the database; empty: none written)
    CHECKPOINT_LOG = os.environ.get(
        "OW_CHECKPOINT_LOG", str(BASE_DIR / "instance" / "audit" / "checkpoints.log")
    )
    CHECKPOINT_MINUTES = float(os.environ.get("OW_CHECKPOINT_MINUTES", 15))
    DATABASE_URL = os.environ.get(
        "DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'onewindow.sqlite3'}"
    )
    SQL_ECHO = _env_bool("OW_SQL_ECHO", False)
    BPMN_DIR = Path(os.environ.get("OW_BPMN_DIR", BASE_DIR / "bpmn"))
    TOKEN_MAX_AGE = int(os.environ.get("OW_TOKEN_MAX_AGE", 8 * 3600))
    AUTH_CACHE_SECONDS = float(os.environ.get("OW_AUTH_CACHE_SECONDS", 10))
    PASSWORD_HASH_METHOD = os.environ.get("OW_PASSWORD_HASH", "scrypt")
    WORKFLOW_CACHE_SIZE = int(os.environ.get("OW_WORKFLOW_CACHE_SIZE", 2000))
    # a case's serialized workflow is a cache: written every this many engine moves of a
    # running workflow; the events after it are replayed on a cache miss
    SNAPSHOT_EVERY = int(os.environ.get("OW_SNAPSHOT_EVERY", 20))
    CHECKIN_ENFORCED = _env_bool("OW_CHECKIN_ENFORCED", False)  # no check-in by the deadline = away
    CHECKIN_DEADLINE = os.environ.get("OW_CHECKIN_DEADLINE", "09:00")  # centre local time
    SCHEDULER_ENABLED = _env_bool("OW_SCHEDULER", True)  # in app.wsgi and run-scheduler
    # the scheduler's safety-net round, also how soon a waiting process takes over the leader lock
    SCHEDULER_FALLBACK_SECONDS = float(os.environ.get("OW_SCHEDULER_FALLBACK_SECONDS", 30))
    # APScheduler's own logger (it logs every run of every job at INFO); ours stay as they are
    SCHEDULER_LOG_LEVEL = os.environ.get("OW_SCHEDULER_LOG_LEVEL", "WARNING")
    # the leader's timer lanes: threads (default 4 on PostgreSQL, 1 on SQLite) and, for a
    # burst, processes (default one per core on PostgreSQL, none on SQLite; 0: none)
    TIMER_WORKERS = _env_int("OW_TIMER_WORKERS")
    TIMER_PROCESSES = _env_int("OW_TIMER_PROCESSES")
    TIMER_BATCH = _env_int("OW_TIMER_BATCH")  # due timers read at a time (default 1,000)
    WRITE_RETRIES = int(os.environ.get("OW_WRITE_RETRIES", 8))
    # one engine step (start, completion, timer, dry-run step): at most this many engine tasks
    # and this many seconds, whatever the diagram does; past either the case stops (流程异常)
    STEP_MAX_TASKS = int(os.environ.get("OW_STEP_MAX_TASKS", 500))
    STEP_MAX_SECONDS = float(os.environ.get("OW_STEP_MAX_SECONDS", 1.0))
    CENTRE_TIMEZONE = os.environ.get("OW_TIMEZONE", "Asia/Shanghai")
    OFFICE_HOURS = os.environ.get("OW_OFFICE_HOURS", "09:00-17:00")  # centre local time
    CALENDAR_CACHE_SECONDS = float(os.environ.get("OW_CALENDAR_CACHE_SECONDS", 300))
    WARN_DAYS = int(os.environ.get("OW_WARN_DAYS", 1))  # yellow card this many working days ahead
    DEFAULT_LANGUAGE = os.environ.get("OW_LANGUAGE", "zh")  # zh or en; users switch per session
    # web sessions end after this long without a request, and this long after log-in
    PERMANENT_SESSION_LIFETIME = 60 * int(os.environ.get("OW_SESSION_IDLE_MINUTES", 30))
    WEB_SESSION_MAX_HOURS = int(os.environ.get("OW_SESSION_MAX_HOURS", 12))
    # rows of ended sessions are kept this long (the account's and the admin's view), then go
    WEB_SESSION_RETENTION_DAYS = int(os.environ.get("OW_SESSION_RETENTION_DAYS", 90))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("OW_SECURE_COOKIES", False)  # true behind HTTPS: and HSTS
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # where the public reaches the service: every absolute link (feed, QR code) is built on it,
    # never on the request's Host header (app/links.py)
    PUBLIC_URL = os.environ.get("OW_PUBLIC_URL", "http://127.0.0.1:5000")
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024  # one request; an upload is one file
    UPLOAD_DIR = Path(os.environ.get("OW_UPLOAD_DIR", BASE_DIR / "instance" / "uploads"))
    # the authorities' signing keys and certificates and the trusted roots (app/signing/keys.py):
    # never in the database; the demo's are made by `flask init-signing`
    SIGNING_DIR = Path(os.environ.get("OW_SIGNING_DIR", BASE_DIR / "instance" / "signing"))
    # an authority without a key there: the demo CA issues one on first need (the demo only;
    # elsewhere the document is refused until the admin installs the authority's certificate)
    SIGNING_DEMO_CA = _env_bool("OW_SIGNING_DEMO_CA", DEMO)
    UPLOAD_MAX_BYTES = int(os.environ.get("OW_UPLOAD_MAX_BYTES", 5 * 1024 * 1024))
    # a command that scans one file (its path is appended): exit 0 clean, 1 infected
    UPLOAD_SCAN_COMMAND = os.environ.get("OW_UPLOAD_SCAN_COMMAND", "")
    # failed log-ins allowed per user name and per client address within the window
    LOGIN_FAILURES_PER_USER = int(os.environ.get("OW_LOGIN_FAILURES_PER_USER", 5))
    LOGIN_FAILURES_PER_CLIENT = int(os.environ.get("OW_LOGIN_FAILURES_PER_CLIENT", 20))
    LOGIN_WINDOW_MINUTES = int(os.environ.get("OW_LOGIN_WINDOW_MINUTES", 15))
    SEAL_IMAGE = os.environ.get("OW_SEAL_IMAGE", "")  # PNG of the approval seal; default drawn
    # a folder of licensing authorities' seals, <department code>.png; an authority without one
    # gets its seal drawn from its name and seal words
    SEAL_DIR = os.environ.get("OW_SEAL_DIR", "")
    PDF_FONT = os.environ.get("OW_PDF_FONT", "")  # a TrueType CJK font to embed in notices
    # public progress query: failures allowed per client and per case number, and the window
    QUERY_FAILURES_PER_CLIENT = int(os.environ.get("OW_QUERY_FAILURES_PER_CLIENT", 10))
    QUERY_FAILURES_PER_CASE = int(os.environ.get("OW_QUERY_FAILURES_PER_CASE", 20))
    QUERY_WINDOW_MINUTES = int(os.environ.get("OW_QUERY_WINDOW_MINUTES", 60))
    JSON_AS_ASCII = False
    TESTING = False
    # SQLite: the threads of one process queue for the one writer on a lock (app/db.py)
    SQLITE_WRITE_LOCK = _env_bool("OW_SQLITE_WRITE_LOCK", True)


class TestConfig(Config):
    """Settings for the test suite: cheap password hashing, database from the fixture."""

    TESTING = True
    SECRET_KEY = "test-secret"
    SIGNING_DEMO_CA = True  # the app fixture gives the run its own signing folder
    CHECKPOINT_LOG = ""  # the app fixture gives each test its own log
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    AUTH_CACHE_SECONDS = 0
    CALENDAR_CACHE_SECONDS = None  # kept until a year is added in this process
