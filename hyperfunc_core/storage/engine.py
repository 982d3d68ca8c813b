"""Engines and sessions for the experiment database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlmodel import Session, SQLModel, create_engine

from hyperfunc_core.storage import models  # noqa: F401  (registers the tables)
from hyperfunc_core.validation import InvalidInput

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


SUPPORTED = "sqlite:///PATH.db (SQLite) or postgresql://USER:PASSWORD@HOST/DB (PostgreSQL)"


def normalize_url(url: str) -> str:
    """Accept the URL forms users type and pick the drivers this project installs; refuse the others."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"storage: expected a database URL such as {SUPPORTED}, got {url!r}")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    scheme = url.split("://", 1)[0]
    if scheme not in ("sqlite", "postgresql+psycopg"):
        raise InvalidInput(
            f"storage: {describe_scheme(url)} uses the scheme {scheme!r}, which hyperfunc does not "
            f"support; expected {SUPPORTED}"
        )
    return url


def describe_scheme(url: str) -> str:
    """The URL without anything after its host (no password in an error message)."""
    scheme, _, rest = url.partition("://")
    return f"'{scheme}://{rest.split('@')[-1].split('/')[0]}...'" if rest else f"'{url}'"


def check_sqlite_path(url: str, create_folder: bool = False) -> None:
    """A SQLite URL's file must sit in an existing folder (made only where ``create_folder``: our own home)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database).absolute()
    if path.is_dir():
        raise InvalidInput(
            f"storage: {path} is a folder; the SQLite URL must name a file in it (e.g. {path / 'hyperfunc.db'})"
        )
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InvalidInput(
                    f"storage: {folder} is a file, not a folder, so the SQLite database {path} cannot be made under it"
                )
            break
    if not path.parent.is_dir():
        if not create_folder:
            raise InvalidInput(
                f"storage: the folder {path.parent} of the SQLite database {path} does not exist; "
                f"create it first (hyperfunc does not make folders a URL names)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)


def _in_home(url: str, home: Path) -> bool:
    """A SQLite file under HYPERFUNC_HOME: the folders there are hyperfunc's own to make."""
    database = make_url(url).database if make_url(url).get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        return False
    return Path(database).absolute().is_relative_to(Path(home).absolute())


def check_url(url: str) -> str:
    """``url`` normalised and checked (scheme, SQLite folder) before any work; see ``get_engine``."""
    url = normalize_url(url)
    check_sqlite_path(url)
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the settings' database), tables created on first use."""
    from hyperfunc_core.settings import get_settings

    settings = get_settings()
    url = normalize_url(url if url is not None else settings.resolved_database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        check_sqlite_path(url, create_folder=_in_home(url, settings.resolved_home))
        if make_url(url).get_backend_name() == "sqlite":
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        create_tables(engine)
        _engines[url] = engine
        return engine


MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"  # the schema create_all made before migrations existed


def create_tables(engine: Engine, attempts: int = 10) -> None:
    """Bring the database to the current schema: tables made, migrations applied, under a lock.

    Several processes opening one new database at the same moment take turns (a file lock
    beside a SQLite file, an advisory lock on PostgreSQL). A new database gets today's
    tables and is stamped with the newest migration; one made before migrations existed is
    stamped with the baseline and upgraded; a migrated one is upgraded (alembic). A process
    that still meets "already exists" from one that took no lock (an older version) looks again.
    """
    for attempt in range(1, attempts + 1):
        try:
            with _schema_lock(engine), engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7274720518)")  # 'hyperfunc' schema
                _migrate(connection)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if "already exists" not in str(exc).lower() and "duplicate" not in str(exc).lower() or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


def _migrate(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        existing = inspect(connection).has_table("trial")
        SQLModel.metadata.create_all(connection)  # the tables that are missing, at today's schema
        command.stamp(config, BASELINE if existing else "head")
    command.upgrade(config, "head")


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock across processes for a SQLite file's schema work (PostgreSQL locks in SQL)."""
    database = make_url(str(engine.url)).database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.schema-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dispose_engines() -> None:
    """Close every pooled connection (tests, forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def describe_url(url: str) -> str:
    """The URL with any password hidden, for logs and ``hyperfunc doctor``."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)
