"""Database engine, the per-request session and the one place that commits."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from . import jsonio
from .errors import Conflict, StaleCase, unavailable_response
from .writelock import WriteLock, lock_before_writing, writer

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every OneWindow table."""

    metadata = sa.MetaData(naming_convention=NAMING)


def partial_index(name: str, *columns: str, where: str) -> sa.Index:
    """An index of the rows that match `where` only, on PostgreSQL and SQLite alike."""
    return sa.Index(name, *columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def utcnow() -> dt.datetime:
    """Return the current time as naive UTC (how every time is stored).

    An app may set CLOCK (a callable) to run on another clock, as the tests of time-driven
    rules do.
    """
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def make_engine(url: str, echo: bool = False) -> sa.Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=jsonio.dumps, json_deserializer=jsonio.loads,
        )  # fmt: skip

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = sa.create_engine(
        url, echo=echo, pool_size=10, max_overflow=20, pool_recycle=POOL_RECYCLE_SECONDS,
        json_serializer=jsonio.dumps, json_deserializer=jsonio.loads,
    )  # fmt: skip
    _ping_when_idle(engine)
    if engine.dialect.name == "postgresql":
        _pipeline_writes(engine)
    return engine


# A pooled connection is pinged (one round trip) at checkout only when it has sat idle in the
# pool this long: a connection used a moment ago is alive, and pinging it on every request
# (pool_pre_ping) cost a round trip per request. A server that went away meanwhile is still
# met: the failed statement answers 503 (is_unavailable), SQLAlchemy invalidates the pool on
# a disconnect, and the next checkout connects anew; pool_recycle replaces connections a
# server or a firewall may have dropped while idle.
PING_AFTER_IDLE_SECONDS = 5.0
POOL_RECYCLE_SECONDS = 1800


def _ping_when_idle(engine: sa.Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_conn, record) -> None:
        record.info["ow_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("ow_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool discards it and connects anew
            raise sa.exc.DisconnectionError(str(exc)) from exc


# PostgreSQL: the writes of a step ride one psycopg pipeline, one round trip, and the COMMIT
# follows (`queue_write`). A write is queued with the execution option `ow_pipelined`; any other
# statement sent while writes are queued is synced at once (its result, rowcount and any
# error of a queued write read as before). A write that must match a row (the case's version,
# a task still open) is written so that matching no row is an error of the statement
# (`LOST_RACE_MARK`): the transaction is aborted and nothing of it is written.
PIPELINED = {"ow_pipelined": True}
LOST_RACE_MARK = "ow-lost-race"


def _pipeline_writes(engine: sa.Engine) -> None:
    dialect = engine.dialect
    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    @event.listens_for(engine, "after_cursor_execute")
    def _sync_unless_queued(conn, _cursor, _statement, _params, context, _many) -> None:
        queued = conn.connection.info.get("ow_pipeline")
        if queued is not None and not context.execution_options.get("ow_pipelined"):
            queued[1].sync()

    def do_commit(dbapi_connection) -> None:
        queued = _take_pipeline(dbapi_connection)
        if queued is not None:  # the queued writes and a Sync: one round trip, errors read
            queued[0].__exit__(None, None, None)
        # then the COMMIT, a round trip of its own: it is sent only once every write is known
        # to have been done, so a connection lost before that (the writes waiting on a lock)
        # never commits them behind an error answer
        plain_commit(dbapi_connection)

    def do_rollback(dbapi_connection) -> None:
        queued = _take_pipeline(dbapi_connection)
        if queued is not None:
            # the queued writes' error is known or moot: they roll back
            with contextlib.suppress(Exception):
                queued[0].__exit__(None, None, None)
        plain_rollback(dbapi_connection)

    dialect.do_commit = do_commit
    dialect.do_rollback = do_rollback


def _take_pipeline(dbapi_connection: Any) -> Any:
    """The pipeline open on a pooled connection (its context manager and the pipeline), taken
    off it (None: none, or not a pooled connection)."""
    try:
        return dbapi_connection.info.pop("ow_pipeline", None)
    except (AttributeError, NotImplementedError):  # e.g. the dialect's first connection
        return None


def queue_write(db: Session, statement: Any, params: Any) -> None:
    """Execute a write of the current transaction; on PostgreSQL it is queued in the
    connection's pipeline and sent with the next other statement or just before the COMMIT."""
    conn = db.connection()
    if conn.dialect.name != "postgresql":
        execute_direct(db, statement, params)
        return
    info = conn.connection.info
    if "ow_pipeline" not in info:
        opened = conn.connection.driver_connection.pipeline()  # a context manager
        info["ow_pipeline"] = (opened, opened.__enter__())
    execute_direct(db, statement, params)


# The few hot writes of a step run on the DB-API cursor (`execute_direct`): each statement is
# compiled once per dialect (and, for an INSERT, per set of columns), its parameters converted
# by the statement's own type processors (JSON, ids, times, sealed personal data), and sent
# without SQLAlchemy's per-execution set-up (an execution context, a result object), which
# costs more than the statement on a fast database. The engine's `before_cursor_execute`
# listeners still see every statement (the budgets in tests/test_sql_budget.py count them)
# and a driver error is raised as SQLAlchemy's (is_lost_race, is_unavailable, invalidation).
# A statement whose execution would need SQLAlchemy's help (Python-side defaults to fill in,
# expanding parameters) goes through the engine as before.
_DIRECT: dict[tuple, tuple[Any, Any]] = {}


def _compile_direct(statement: Any, dialect: Any, keys: tuple[str, ...]) -> Any:
    key = (id(statement), dialect.name, keys)
    hit = _DIRECT.get(key)
    if hit is not None:
        return hit[1]
    is_insert = isinstance(statement, sa.Insert)
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if is_insert else None)
    plain = (
        not compiled.insert_prefetch
        and not compiled.update_prefetch
        and not compiled.literal_execute_params
        and not compiled.post_compile_params
        and not getattr(compiled, "_numeric_binds", False)
    )
    if is_insert and plain:  # a column left out must have no default of Python's to fill in
        plain = all(
            c.key in keys or (c.default is None and c.onupdate is None)
            for c in statement.table.columns
        )
    entry = None
    if plain:
        names = tuple(compiled.positiontup) if compiled.positional else None
        procs = {n: p for n, p in compiled._bind_processors.items() if p is not None}
        entry = (compiled, names, procs)
    _DIRECT[key] = (statement, entry)  # the statement kept alive: its id stays its own
    return entry


def _direct_params(entry: Any, params: dict) -> Any:
    compiled, names, procs = entry
    values = compiled.construct_params(params)  # a missing parameter is an error, not NULL
    for name, proc in procs.items():
        if name in values:
            values[name] = proc(values[name])
    if names is not None:
        return tuple(values[n] for n in names)
    return values


def execute_direct(
    db: Session, statement: Any, params: dict | list[dict], read: bool = False
) -> Any:
    """Execute a prebuilt write on the DB-API cursor; return the cursor (its rowcount is the
    rows written). A list of parameter sets is one executemany. Falls back to the engine for
    a statement that needs it (then the result's rowcount is the same). `read`: its rows are
    read now (a RETURNING), so on PostgreSQL a pipeline in progress is synced first."""
    conn = db.connection()
    dialect = conn.dialect
    many = isinstance(params, list)
    first = params[0] if many else params
    entry = _compile_direct(statement, dialect, tuple(first))
    if entry is None:
        options = {} if read else _queued_options(conn)
        return conn.execute(statement, params, execution_options=options)
    sql = entry[0].string
    values = [_direct_params(entry, p) for p in params] if many else _direct_params(entry, params)
    if (many and 1 < len(values) <= MULTI_ROW_MAX and dialect.name == "postgresql"
            and isinstance(values[0], dict)):  # fmt: skip
        multi = _multi_row(sql, len(values))
        if multi is not None:  # one statement, one message to the server, for all the rows
            sql, many = multi, False
            values = {f"{key}__{i}": value for i, row in enumerate(values)
                      for key, value in row.items()}  # fmt: skip
    dbapi_conn = conn.connection.dbapi_connection
    cursor = dbapi_conn.cursor()
    if conn._has_events or conn.engine._has_events:
        conn.dispatch.before_cursor_execute(conn, cursor, sql, values, None, many)
    try:
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)
        if read and "ow_pipeline" in conn.connection.info:
            conn.connection.info["ow_pipeline"][1].sync()
    except Exception as exc:  # as SQLAlchemy's, invalidating a dead connection
        conn._handle_dbapi_exception(exc, sql, values, cursor, None)
    return cursor


# On PostgreSQL several rows of one prebuilt INSERT (a step's events, its new tasks) go as one
# multi-row INSERT rather than an executemany, which psycopg sends as one statement a row:
# each costs the client as much as the server. The text per number of rows is made once.
MULTI_ROW_MAX = 64
_MULTI_ROW: dict[tuple[str, int], str | None] = {}
_NAMED_PARAM = re.compile(r"%\((\w+)\)s")


def _multi_row(sql: str, rows: int) -> str | None:
    """The INSERT `sql` (named parameters, one VALUES row, nothing after it) for `rows` rows,
    each row's parameters suffixed `__<row>`; None when the statement is not of that form."""
    key = (sql, rows)
    if key in _MULTI_ROW:
        return _MULTI_ROW[key]
    head, sep, tail = sql.partition(" VALUES (")
    result = None
    bare = _NAMED_PARAM.sub("", tail[:-1])  # the row without its parameters' own brackets
    if sep and head.startswith("INSERT INTO ") and tail.endswith(")") and not set("()") & set(bare):
        row = "(" + tail
        result = (
            head
            + " VALUES "
            + ", ".join(
                _NAMED_PARAM.sub(lambda m, i=i: f"%({m.group(1)}__{i})s", row) for i in range(rows)
            )
        )
    _MULTI_ROW[key] = result
    return result


def _queued_options(conn: sa.Connection) -> dict:
    return PIPELINED if "ow_pipeline" in conn.connection.info else {}


def is_lost_race(exc: BaseException) -> bool:
    """Whether an error is a lost race: a stale row (StaleCase, the ORM's StaleDataError) or a
    queued write that found its row changed (`LOST_RACE_MARK`)."""
    if isinstance(exc, StaleCase | StaleDataError):
        return True
    return isinstance(exc, DBAPIError) and LOST_RACE_MARK in str(exc.orig)


def init_app(app: Flask) -> None:
    """Attach an engine and a session factory to the app; close sessions after requests."""
    engine = make_engine(app.config["DATABASE_URL"], app.config.get("SQL_ECHO", False))
    app.extensions["ow_engine"] = engine
    app.extensions["ow_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite" and app.config.get("SQLITE_WRITE_LOCK", True):
        # SQLite has one writer at a time. Writers queue for it on this lock instead of
        # polling SQLite's busy handler, which sleeps 1, 2, 5, 10 … ms between tries: the
        # threads of a process on a lock, the processes (several workers on one file) on an
        # flock of a file beside the database. A `transactional` operation takes it at its
        # first write statement and keeps it to its commit or rollback: operations read, step
        # their workflows and plan side by side and queue only to write (the version check on
        # the case row decides a race, as on PostgreSQL).
        app.extensions["ow_write_lock"] = WriteLock(engine.url.database)
        event.listen(engine, "before_cursor_execute", lock_before_writing)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("ow_session", None)
        if session is not None:
            try:
                session.close()  # rolls back what was not committed: nothing to lose
            except DBAPIError:  # the connection died after the work: the answer stands
                session.invalidate()

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        if not is_unavailable(exc):
            raise exc  # a fault of ours: the 500 handler logs it
        first_line = (str(exc.orig or exc).strip().splitlines() or [""])[0]
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                           first_line)  # fmt: skip
        return unavailable_response()


# PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many
# connections), 57 operator intervention (shutdown, starting up, cancelled)
_UNAVAILABLE_CLASSES = {"08", "53", "57"}
_UNAVAILABLE_TEXT = (
    "connection refused", "could not connect", "connection failed", "server closed the connection",
    "connection is closed", "connection already closed", "terminating connection",
    "the database system is", "consuming input failed", "connection timeout",
    "database is locked", "unable to open database file",
)  # fmt: skip


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached or is down (a 503),
    as opposed to a fault of the application (a 500)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code:
        return code[:2] in _UNAVAILABLE_CLASSES
    text = str(exc.orig).lower()
    return any(part in text for part in _UNAVAILABLE_TEXT)


def get_engine() -> sa.Engine:
    """Return the current app's engine."""
    return current_app.extensions["ow_engine"]


def session() -> Session:
    """Return the session of the current app context, opening it on first use."""
    current = g.get("ow_session")
    if current is None:
        current = current_app.extensions["ow_sessionmaker"]()
        g.ow_session = current
    return current


def _is_retryable(exc: Exception) -> bool:
    if is_lost_race(exc):
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return "locked" in text or "busy" in text or "deadlock" in text
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return code in {"40001", "40P01"}
    return False


LOST_EVERY_RACE = _l("others changed this case at the same moment each time; reload and try again")


def transactional(func: Callable[..., T]) -> Callable[..., T]:
    """Run a service operation in one transaction: commit once, retry on a lost race."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        db = session()
        retries = current_app.config.get("WRITE_RETRIES", 8)
        lock = current_app.extensions.get("ow_write_lock")
        for attempt in range(retries + 1):
            with writer(lock):  # SQLite: writers queue from their first write (see init_app)
                try:
                    result = func(*args, **kwargs)
                    db.commit()
                    after = db.info.pop("after_commit", [])
                    for callback in after:
                        callback()
                    return result
                except Exception as exc:
                    if getattr(exc, "keep_changes", False):  # e.g. a case stopped as faulted
                        try:
                            db.commit()
                        except Exception as lost:  # written onto a row that moved: try again
                            if not is_lost_race(lost):
                                raise
                            exc = lost
                        else:
                            for callback in db.info.pop("after_commit", []):
                                callback()
                            raise
                    db.rollback()
                    for callback in db.info.pop("after_rollback", []):
                        callback()
                    db.info.pop("after_commit", None)
                    retryable = _is_retryable(exc) or _is_unique_race(exc, attempt)
                    if not retryable:
                        raise
                    if attempt == retries:
                        if is_lost_race(exc):  # lost every race: say so
                            raise Conflict(LOST_EVERY_RACE) from exc
                        raise
            stats = current_app.extensions.setdefault("ow_stats", {})
            stats["retries"] = stats.get("retries", 0) + 1
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    return wrapper


def _is_unique_race(exc: Exception, attempt: int) -> bool:
    """A duplicate case number or event sequence means another writer won; try again."""
    if not isinstance(exc, IntegrityError) or attempt >= 3:
        return False
    text = str(exc.orig)
    return "case_no" in text or "events" in text and "seq" in text


def on_commit(callback: Callable[[], None]) -> None:
    """Run a callback after the current transaction commits (e.g. refresh a cache)."""
    session().info.setdefault("after_commit", []).append(callback)


def on_rollback(callback: Callable[[], None]) -> None:
    """Run a callback if the current transaction rolls back (e.g. evict a cache entry)."""
    session().info.setdefault("after_rollback", []).append(callback)


def insert_once(db: Session, model: type[Base], values: dict, unique: list[str]) -> int | None:
    """Insert a row unless one with the same `unique` columns exists; return its id or None.

    The database keeps it once (ON CONFLICT DO NOTHING), however many writers race.
    """
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=unique)
    return db.execute(stmt.returning(model.id)).scalar()
