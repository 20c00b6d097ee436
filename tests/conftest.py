"""Shared fixtures: temporary homes and registries (SQLite, and PostgreSQL on a throwaway server),
the shared real-data folder.

**Both databases.** A test module marked ``pytestmark = pytest.mark.databases`` runs every test that
uses a registry (the ``registry``, ``database_url`` or ``module_database_url`` fixtures) twice:
``[sqlite]`` on a file in the test's home, ``[postgresql]`` on a fresh database of a PostgreSQL
server that this session starts itself — ``initdb`` into a temporary folder and ``pg_ctl start`` on a
free loopback port (as the ``postgres`` system user when the tests run as root: PostgreSQL refuses
to run as root), stopped when the session ends.  The binaries come from the Debian package
``postgresql`` (``/usr/lib/postgresql/<version>/bin``; ``YIZHAN_TEST_PG_BIN`` names another folder).
Without them the ``[postgresql]`` tests are skipped locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUT = Path(__file__).resolve().parent / "input_data"
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(relative: str) -> Path:
    """Path of a file in ../shared/data; skip locally when missing, fail in CI (CI=true)."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared data file missing: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def clear_settings(mp: pytest.MonkeyPatch) -> None:
    """Remove the YIZHAN_* settings and DATABASE_URL of the environment (the tests set their own)."""
    for key in list(os.environ):
        if key.startswith("YIZHAN_") or key == "DATABASE_URL":
            mp.delenv(key, raising=False)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home folder; YIZHAN_* settings and DATABASE_URL from the environment are cleared."""
    clear_settings(monkeypatch)
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


# -- PostgreSQL --------------------------------------------------------------------------------------
BACKENDS = ("sqlite", "postgresql")
MIN_PG = 15


def _pg_bindir() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: $YIZHAN_TEST_PG_BIN, else the newest Debian
    /usr/lib/postgresql/<version>/bin (15 or newer), else the folder of ``pg_config --bindir``."""
    given = os.environ.get("YIZHAN_TEST_PG_BIN")
    if given:
        return Path(given) if (Path(given) / "initdb").is_file() else None
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    found = [p for p in found if int(p.parent.name) >= MIN_PG]
    if found:
        return max(found, key=lambda p: int(p.parent.name))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").is_file():
            return Path(out)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust authentication, no fsync: test data only)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="yizhan-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.runas: list[str] = []
        if hasattr(os, "geteuid") and os.geteuid() == 0:        # postgres refuses to run as root
            user = self._system_user()
            shutil.chown(self.root, user)
            self.runas = ["runuser", "-u", user, "--"]

    @staticmethod
    def _system_user() -> str:
        import pwd

        for name in ("postgres", "yizhan-pg"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "yizhan-pg"],
                       check=True, capture_output=True)
        return "yizhan-pg"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.runas, *args], capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> None:
        os.chmod(self.root, 0o700)
        done = self._run(str(self.bindir / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
                         "-E", "UTF8", "--no-locale", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        for _ in range(5):
            self.port = _free_port()
            options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F "
                       "-c full_page_writes=off -c synchronous_commit=off -c max_connections=300 "
                       "-c shared_buffers=64MB")
            done = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                             "-t", "60", "-o", options, "start")
            if done.returncode == 0:
                return
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1000:]} {log}")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"yz_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database` (its open connections are ended)."""
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (started on first use, stopped at the end of the session)."""
    bindir = _pg_bindir()
    if bindir is None:
        message = f"PostgreSQL {MIN_PG}+ server binaries not found (apt-get install postgresql)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        pytest.fail(f"could not start PostgreSQL: {exc}")
    yield server
    server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("databases"):
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="module")


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql`` (only modules marked ``databases`` get both)."""
    return getattr(request, "param", "sqlite")


def _database(request: pytest.FixtureRequest, backend: str):  # noqa: ANN202
    if backend == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str):  # noqa: ANN201
    """None for SQLite (the default file in the home), else the URL of a fresh PostgreSQL database
    (dropped after the test).  Pass it as ``DATABASE_URL`` to create_app / the CLI."""
    yield from _database(request, backend)


@pytest.fixture(scope="module")
def module_database_url(request: pytest.FixtureRequest, backend: str):  # noqa: ANN201
    """:func:`database_url` for a module-scoped app."""
    yield from _database(request, backend)


def url_for(database_url: str | None, home: Path) -> str:
    """The registry URL: ``database_url``, or the SQLite file of ``home``."""
    return database_url or f"sqlite:///{home / 'yizhan.sqlite'}"


def cli_env(database_url: str | None) -> dict[str, str]:
    """Environment for a CLI run against ``database_url`` (nothing for the home's SQLite file)."""
    return {"YIZHAN_DATABASE_URL": database_url} if database_url else {}


@pytest.fixture
def registry(home: Path, database_url: str | None):
    """An empty registry: a temporary SQLite file, or a fresh PostgreSQL database in modules
    marked ``databases`` (both, one after the other)."""
    from yizhan.stations.storage import Registry

    reg = Registry(url_for(database_url, home))
    yield reg
    reg.engine.dispose()


STATION_HEADER = "编号,名称,类型,地址,服务内容,开放时间,座位数,联系电话,状态,经度,纬度\n"
#: Three well-separated stations in Guangzhou (WGS-84), used by many tests.
STATION_ROWS = [
    "T1,天河体育中心工会爱心驿站,工会爱心驿站,广州市天河区体育西路1号,饮水、充电、休息座椅,08:00-20:00,10,020-12345678,在运营,113.3245,23.1375",
    "T2,琶洲快递员之家,快递员之家,广州市海珠区琶洲大道2号,饮水、热饭,24h,6,,在运营,113.3650,23.1000",
    "T3,白云物流司机之家,司机之家,广州市白云区太和镇3号,停车、淋浴,24h,20,,在运营,113.3500,23.3300",
]


def write_csv(path: Path, rows: list[str], *, header: str = STATION_HEADER, encoding: str = "utf-8") -> Path:
    """Write a small station CSV."""
    path.write_bytes((header + "\n".join(rows) + "\n").encode(encoding))
    return path
