"""A PostgreSQL of the tests' own: a fresh cluster in a temporary directory, on a free port.

``initdb`` refuses to run as root, so when the tests run as root the cluster belongs to
the ``postgres`` user and its commands run through ``runuser -u postgres --``. The unix
socket lives inside the cluster's directory; TCP listens on 127.0.0.1 only, with password
authentication (a random password), and ``fsync`` stays on, as in production.

Each test gets a schema of its own (:func:`fresh_schema`), also on a server named by
``TELECONSULT_TEST_POSTGRES_URL``; the tests drop only the schemas they created, never a
database or anything else they did not create.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit, parse_qsl

OWNER = "postgres"  # the system user that owns the cluster when the tests run as root
DATABASE = "teleconsult_test"


def find_bin(name: str) -> str | None:
    """``initdb``/``pg_ctl``: on PATH, else the newest /usr/lib/postgresql/N/bin (Debian keeps them there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def unavailable_reason() -> str | None:
    """Why :class:`PostgresServer` cannot start here, or None when it can."""
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"running as root and there is no {OWNER!r} user to own the test cluster"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``start()`` → ``url`` (a database of its own, :data:`DATABASE`) → ``stop()`` (removes everything)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="teleconsult-pg-"))
        self.data = self.root / "data"
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_owner = ["runuser", "-u", OWNER, "--"]

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_owner, *args], capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)

    def start(self, timeout_s: float = 60.0) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        assert initdb and pg_ctl, unavailable_reason()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_owner:
            owner = pwd.getpwnam(OWNER)
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        pwfile.chmod(0o600)
        try:
            self._run(initdb, "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile), "-E", "UTF8",
                      "--locale", "C", "--auth-local", "trust", "--auth-host", "scram-sha-256")
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed: {exc.stderr}") from None
        pwfile.unlink()
        sockets = self.data / "sockets"
        self._run("mkdir", "-m", "700", str(sockets))
        for attempt in range(5):  # a free port may be taken between choosing and binding it
            self.port = _free_port()
            conf = (f"\n# teleconsult tests\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{sockets}'\nfsync = on\nsynchronous_commit = on\n"
                    "max_connections = 60\nshared_buffers = 16MB\n")
            with open(self.data / "postgresql.conf", "a") as fh:  # later lines win over earlier ones
                fh.write(conf)
            try:
                self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", str(int(timeout_s)),
                          "start")
                break
            except subprocess.CalledProcessError as exc:
                if attempt == 4 or "could not bind" not in self._log_tail():
                    raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{self._log_tail()}") from None
        _ddl(self.admin_url, "CREATE DATABASE {}", DATABASE)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        pg_ctl = find_bin("pg_ctl")
        try:
            if pg_ctl and (self.data / "postmaster.pid").exists():
                self._run(pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions use ``schema`` (libpq ``options=-c search_path=…``)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c search_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


class fresh_schema:
    """A schema of the test's own in the database at ``url``: ``with fresh_schema(url) as test_url: …``.

    Creates ``t_<random>`` on enter and drops it (with everything in it) on exit: only a
    schema it created itself.
    """

    def __init__(self, url: str) -> None:
        self.base_url = url
        self.schema = "t_" + secrets.token_hex(6)

    def __enter__(self) -> str:
        _ddl(self.base_url, "CREATE SCHEMA {}", self.schema)
        return with_search_path(self.base_url, self.schema)

    def __exit__(self, *exc: object) -> None:
        _ddl(self.base_url, "DROP SCHEMA {} CASCADE", self.schema)


def _ddl(url: str, statement: str, name: str) -> None:
    """Run ``statement`` with ``name`` quoted as an identifier into its ``{}``."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))
