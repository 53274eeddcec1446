"""The only module that knows SQLite from PostgreSQL.

Repositories (:mod:`teleconsult.storage.sql`) write one SQL text, with ``?`` placeholders,
and run it through a :class:`Session`. An :class:`Engine` hands out connections, turns
the text into its driver's dialect, maps the driver's unique-constraint error to
:class:`UniqueViolation` and serialises migrations between processes. No other module of
the service imports ``sqlite3`` or ``psycopg`` (tests/test_layers.py checks it).

Calling order: ``engine = open_engine(path_or_url)``; then, per call,
``with engine.session() as s: s.rows("SELECT … WHERE id = ?", 1)`` (or
``engine.session(transaction=True)`` for several statements that commit together);
finally ``engine.close()``. Any thread may open a session; while it lasts the session has
its connection to itself. SQLite has one connection (``pool_size`` 1: one writer, sessions
wait their turn), PostgreSQL a small pool that threads share.
"""

from __future__ import annotations

import functools
import select
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

Row = dict[str, Any]
POSTGRES_SCHEMES = ("postgresql", "postgres")
# pg_advisory_xact_lock key that serialises migrations between nodes (any fixed 64-bit number;
# this one is b"tlcnsult", recognisable in pg_locks as 0x746c636e_73756c74).
MIGRATION_LOCK_KEY = int.from_bytes(b"tlcnsult", "big", signed=True)


class UniqueViolation(Exception):
    """A UNIQUE or PRIMARY KEY constraint refused the row (mapped to ``Conflict`` by the repository)."""


class DatabaseUnavailable(ConnectionError):
    """The database server cannot be reached or refused the login (the message names it, without a password)."""


class Session:
    """One connection, checked out of an :class:`Engine` for one repository call."""

    def __init__(self, engine: Engine, conn: Any) -> None:
        self._engine = engine
        self._conn = conn

    def rows(self, sql: str, *args: Any) -> list[Row]:
        """Run one statement; its result rows as dicts (``[]`` for a statement without result).

        Raises:
            UniqueViolation: a unique or primary-key constraint refused the row.
        """
        cur = self._conn.cursor()
        try:
            cur.execute(self._engine.convert(sql), args)
            return [] if cur.description is None else list(cur.fetchall())
        except Exception as exc:
            self._engine.raise_mapped(exc)
            raise
        finally:
            cur.close()

    def one(self, sql: str, *args: Any) -> Row | None:
        rows = self.rows(sql, *args)  # fetch all: SQLite ends a RETURNING statement only once read to the end
        return rows[0] if rows else None

    def run(self, sql: str, *args: Any) -> None:
        self.rows(sql, *args)

    def run_many(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        cur = self._conn.cursor()
        try:
            cur.executemany(self._engine.convert(sql), list(args))
        except Exception as exc:
            self._engine.raise_mapped(exc)
            raise
        finally:
            cur.close()

    def script(self, text: str) -> None:
        """Run a migration script (several statements, no parameters), inside the current transaction."""
        self._engine.run_script(self._conn, text)


class Engine(ABC):
    """Connections for one database, and what differs between dialects."""

    name: ClassVar[str]  # "sqlite" | "postgresql"
    script_suffix: ClassVar[str]  # migrations/NNNN_x.<suffix>.sql wins over NNNN_x.sql

    def __init__(self, pool_size: int) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.pool_size = pool_size
        self._idle: list[Any] = []
        self._open = 0
        self._closed = False
        self._cond = threading.Condition()

    # -- what a dialect provides ---------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection in autocommit mode whose rows are dicts."""

    @abstractmethod
    def _transaction(self, conn: Any) -> AbstractContextManager[Any]:
        """Begin on enter; commit on a normal exit, roll back on an exception."""

    @abstractmethod
    def _is_unique_violation(self, exc: Exception) -> bool: ...

    @abstractmethod
    def run_script(self, conn: Any, text: str) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, fit for a log line (never a password)."""

    def convert(self, sql: str) -> str:
        """The driver's form of a ``?``-placeholder statement."""
        return sql

    def lock_for_migrations(self, session: Session) -> None:
        """Inside the migration transaction: make other processes that migrate wait for this one."""

    def _usable(self, conn: Any) -> bool:
        """After a call: may ``conn`` go back to the pool?"""
        return True

    def _alive(self, conn: Any) -> bool:
        """Before reusing an idle ``conn``: is it still connected, as far as can be told without a round trip?"""
        return True

    def _close_connection(self, conn: Any) -> None:
        conn.close()

    # -- shared ----------------------------------------------------------------------------

    def raise_mapped(self, exc: Exception) -> None:
        if self._is_unique_violation(exc):
            raise UniqueViolation(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc

    @contextmanager
    def session(self, transaction: bool = False) -> Iterator[Session]:
        """A connection for one call; with ``transaction`` its statements commit (or roll back) together."""
        conn = self._acquire()
        try:
            if transaction:
                with self._transaction(conn):
                    yield Session(self, conn)
            else:
                yield Session(self, conn)
        finally:
            self._release(conn)

    def _acquire(self) -> Any:
        while True:
            reused = None
            with self._cond:
                while not self._closed and not self._idle and self._open >= self.pool_size:
                    self._cond.wait()
                if self._closed:
                    raise RuntimeError(f"database {self.describe()} is closed")
                if self._idle:
                    reused = self._idle.pop()
                else:
                    self._open += 1
            if reused is None:
                break
            if self._alive(reused):
                return reused
            self._discard(reused)
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _release(self, conn: Any) -> None:
        with self._cond:
            if not self._closed and self._usable(conn):
                self._idle.append(conn)
                self._cond.notify()
                return
        self._discard(conn)  # broken (server restarted, network) or engine closed: never reused

    def _discard(self, conn: Any) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()
        try:
            self._close_connection(conn)
        except Exception:
            pass  # it was broken already

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            self._close_connection(conn)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row)}


class SqliteEngine(Engine):
    """The embedded default: one file in the data directory, one connection (one writer)."""

    name = "sqlite"
    script_suffix = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__(pool_size=1)
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = _dict_row
        # Switching a new database to WAL needs it to itself, and SQLite answers "locked" at
        # once (without its busy handler) while another process does the same: retry.
        deadline = time.monotonic() + 10.0
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front: another process that migrates waits here.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _usable(self, conn: sqlite3.Connection) -> bool:
        return not conn.in_transaction  # never hand on a connection with a transaction left open

    def _is_unique_violation(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and getattr(exc, "sqlite_errorname", "") in (
            "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")

    def run_script(self, conn: sqlite3.Connection, text: str) -> None:
        # Not executescript(): it would COMMIT the migration transaction first.
        statement = ""
        for line in text.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                conn.execute(statement)
                statement = ""
        if statement.strip():
            conn.execute(statement)

    def describe(self) -> str:
        return f"sqlite:{self.path}"


@functools.lru_cache(maxsize=1024)
def qmark_to_format(sql: str) -> str:
    """``?`` placeholders (outside string literals) to psycopg's ``%s``; a literal ``%`` becomes ``%%``."""
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class PostgresEngine(Engine):
    """PostgreSQL through psycopg 3 (sync connections, a small pool shared by worker threads)."""

    name = "postgresql"
    script_suffix = "postgres"

    def __init__(self, url: str, pool_size: int = 4, connect_timeout_s: int = 10) -> None:
        super().__init__(pool_size=pool_size)
        self.url = url
        self.connect_timeout_s = connect_timeout_s

    def _connect(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        try:
            return psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                                   connect_timeout=self.connect_timeout_s, application_name="teleconsult")
        except psycopg.OperationalError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = "; ".join(lines[:2]) if lines else type(exc).__name__
            raise DatabaseUnavailable(f"cannot connect to {self.describe()}: {reason}") from exc

    def _transaction(self, conn: Any) -> AbstractContextManager[Any]:
        transaction: AbstractContextManager[Any] = conn.transaction()
        return transaction

    def convert(self, sql: str) -> str:
        return qmark_to_format(sql)

    def lock_for_migrations(self, session: Session) -> None:
        # Held until the migration transaction ends; a second node starting at the same
        # moment waits here, then finds every version applied.
        session.run("SELECT pg_advisory_xact_lock(?)", MIGRATION_LOCK_KEY)

    def _is_unique_violation(self, exc: Exception) -> bool:
        from psycopg import errors

        return isinstance(exc, errors.UniqueViolation)

    def run_script(self, conn: Any, text: str) -> None:
        conn.execute(text)  # without parameters psycopg sends several statements in one query

    def _usable(self, conn: Any) -> bool:
        from psycopg.pq import TransactionStatus

        return not conn.closed and not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE

    def _alive(self, conn: Any) -> bool:
        # An idle connection has nothing to read unless the server has sent its farewell
        # (restart, failover, pg_terminate_backend) or closed the socket: then open a new one
        # rather than fail the next call.
        if conn.closed or conn.broken:
            return False
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        return not readable

    def describe(self) -> str:
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or as a ``password=`` parameter)."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = "&".join("password=***" if item.startswith("password=") else item for item in parts.query.split("&"))
    return urlunsplit(parts._replace(query=query))


def is_postgres_url(target: str) -> bool:
    return urlsplit(target).scheme in POSTGRES_SCHEMES


def open_engine(target: Path | str, pool_size: int = 4) -> Engine:
    """An engine for a SQLite file path or a ``postgresql://`` URL.

    Raises:
        ValueError: ``target`` is a URL of another scheme.
    """
    if isinstance(target, Path):
        return SqliteEngine(target)
    if is_postgres_url(target):
        return PostgresEngine(target, pool_size=pool_size)
    if "://" in target:
        raise ValueError(f"unsupported database URL scheme {urlsplit(target).scheme!r}: use postgresql://")
    return SqliteEngine(Path(target))


__all__ = ["DatabaseUnavailable", "Engine", "MIGRATION_LOCK_KEY", "PostgresEngine", "Row", "Session", "SqliteEngine",
           "UniqueViolation", "is_postgres_url", "open_engine", "qmark_to_format", "redact_url"]
