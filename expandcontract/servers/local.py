"""``local``: PostgreSQL binaries already on this machine, in a temporary cluster.

initdb refuses to run as root, so as root the cluster belongs to an unprivileged OS user
(``postgres`` if it exists, else ``nobody``; override with EC_LOCAL_OS_USER).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from expandcontract.errors import ServerUnavailable
from expandcontract.servers.base import PostgresServer
from expandcontract.servers.tuning import server_options


def find_bindir() -> Path | None:
    """Where initdb/pg_ctl/postgres live: EC_PG_BINDIR, PATH, pg_config --bindir, then the
    newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if os.environ.get("EC_PG_BINDIR"):
        candidates.append(Path(os.environ["EC_PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version_key(Path(p).parent.name)
    )
    candidates.extend(Path(p) for p in reversed(versions))
    for bindir in candidates:
        if all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer(PostgresServer):
    kind = "local"

    def __init__(self, bindir: Path | None = None, port: int | None = None) -> None:
        super().__init__()
        self._bindir = bindir
        self._port = port  # None: a free one (`ec server --port` asks for a fixed one)
        self._dir: Path | None = None
        self._os_user: str | None = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if find_bindir() is None:
            return (
                "no PostgreSQL server binaries found (initdb, pg_ctl, postgres) on PATH, via "
                "pg_config or in /usr/lib/postgresql/*/bin; install postgresql or set EC_PG_BINDIR"
            )
        return None

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            user=self._os_user,
            cwd="/",  # the unprivileged user may not be able to read the caller's cwd
        )

    def _start(self) -> str:
        bindir = self._bindir or find_bindir()
        if bindir is None:
            raise ServerUnavailable(str(self.unavailable_reason()), "or use --server embedded")
        self._os_user = _os_user_for_cluster()
        self._dir = Path(tempfile.mkdtemp(prefix="ec-local-"))
        data, sock = self._dir / "data", self._dir / "sock"
        sock.mkdir()
        if self._os_user:
            entry = pwd.getpwnam(self._os_user)
            os.chmod(self._dir, 0o755)
            for path in (self._dir, sock):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        port = self._port or _free_port()
        try:
            self._run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-sync"]
            )  # fmt: skip
            options = " ".join(
                [f"-p {port}", "-c listen_addresses=127.0.0.1", f"-k {sock}",
                 "-c max_connections=200", *server_options()]
            )  # fmt: skip
            self._run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                 str(self._dir / "server.log"), "-o", options, "start"]
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = self._read_log()
            self._stop()
            detail = getattr(exc, "stderr", "") or ""
            raise ServerUnavailable(
                f"the local PostgreSQL server in {bindir} did not start: "
                f"{detail.strip() or exc}{log}",
                "check that the binaries work, or use --server embedded",
            ) from None
        return f"postgresql://postgres@/postgres?host={sock}&port={port}"

    def _read_log(self) -> str:
        if self._dir is None:
            return ""
        try:
            tail = (self._dir / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""
        return f"\nserver log:\n{tail}" if tail else ""

    def _stop(self) -> None:
        if self._dir is None:
            return
        data = self._dir / "data"
        bindir = self._bindir or find_bindir()
        if bindir is not None and (data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._run(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None


def _os_user_for_cluster() -> str | None:
    """None when we are not root (run as ourselves); else an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("EC_LOCAL_OS_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ServerUnavailable(
        "running as root and no unprivileged OS user (postgres, nobody) exists for initdb",
        "create one (useradd postgres) or set EC_LOCAL_OS_USER",
    )
