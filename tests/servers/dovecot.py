"""A private Dovecot IMAP server for tests: own config, base_dir and state_dir in a temp dir,
127.0.0.1 on a free port, passwd-file user, maildir storage, plain IMAP and IMAPS (self-signed).

    server = DovecotServer.start()        # raises DovecotMissing / DovecotFailed with the log
    server.append(raw, internaldate=...)  # stdlib imaplib, synchronous
    server.stop()                         # its own process group

Works as root (mail stored as ``nobody``, login processes unchrooted) and as an ordinary user.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.servers.certs import make_certificate

DOVECOT = os.environ.get("HOTLINE_TEST_DOVECOT", "/usr/sbin/dovecot")
START_TIMEOUT = 20.0


class DovecotMissing(RuntimeError):
    pass


class DovecotFailed(RuntimeError):
    pass


# Below Linux's ephemeral range (32768-60999): a port handed out by bind(0) is one any outgoing
# connection may take as its source port before the server binds it (seen: EADDRINUSE under xdist).
FREE_PORTS = range(20000, 32768)
_pick = random.Random()


def free_port() -> int:
    """A port on 127.0.0.1 nothing uses now, outside the range outgoing connections draw from."""
    for _ in range(200):
        port = _pick.choice(FREE_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1 in 20000-32767")


def dovecot_version() -> str:
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, check=True, timeout=10)
    return out.stdout.strip()


def _config(root: Path, port: int, tls_port: int, cert: Path, key: Path, major_minor: tuple[int, int]) -> str:
    me = pwd.getpwuid(os.getuid())
    if os.getuid() == 0:
        mail = pwd.getpwnam("nobody")
        login_user = "dovenull" if _has_user("dovenull") else "nobody"
        internal_user = "dovecot" if _has_user("dovecot") else "nobody"
    else:
        mail = me
        login_user = internal_user = me.pw_name
    if major_minor >= (2, 4):  # pragma: no cover - 2.4 renamed settings; not installed here
        raise DovecotFailed("Dovecot 2.4 configuration is not written yet (installed here: 2.3)")
    return f"""
base_dir = {root}/run
state_dir = {root}/state
instance_name = hotline-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {min(mail.pw_uid, 500) or 1}
first_valid_gid = 0
mail_location = maildir:{root}/mail/%u
# a test server: nothing to keep across a crash; the tests append hundreds of mails
mail_fsync = never
mail_uid = {mail.pw_uid}
mail_gid = {mail.pw_gid}
imap_idle_notify_interval = 2 mins
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class DovecotServer:
    host: str
    port: int
    tls_port: int
    user: str
    password: str
    root: Path
    cafile: Path
    version: str
    process: subprocess.Popen[bytes] = field(repr=False)

    # ---- life cycle -------------------------------------------------------------------------
    @classmethod
    def start(cls, user: str = "hotline", password: str = "s3cret-pass") -> DovecotServer:
        if not (os.path.isfile(DOVECOT) and os.access(DOVECOT, os.X_OK)):
            raise DovecotMissing(
                f"Dovecot is not installed ({DOVECOT} missing): run `make services` "
                "(scripts/ensure-services.sh installs the dovecot-imapd package)"
            )
        version = dovecot_version()
        match = re.match(r"(\d+)\.(\d+)", version)
        major_minor = (int(match.group(1)), int(match.group(2))) if match else (2, 3)
        root = Path(tempfile.mkdtemp(prefix="hotline-dovecot-"))
        try:
            return cls._start_in(root, user, password, version, major_minor)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    @classmethod
    def _start_in(
        cls, root: Path, user: str, password: str, version: str, major_minor: tuple[int, int]
    ) -> DovecotServer:
        root.chmod(0o755)
        for sub in ("run", "state", "mail", "home"):
            (root / sub).mkdir()
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for sub in ("mail", "home"):
                os.chown(root / sub, nobody.pw_uid, nobody.pw_gid)
        (root / "users").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
        cert, key = make_certificate(root)
        last_error = ""
        for _attempt in range(3):  # a free port may be taken between probing and binding
            port, tls_port = free_port(), free_port()
            conf = root / "dovecot.conf"
            conf.write_text(_config(root, port, tls_port, cert, key, major_minor))
            process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(conf)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )
            server = cls("127.0.0.1", port, tls_port, user, password, root, cert, version, process)
            try:
                server._wait_ready()
                return server
            except DovecotFailed as exc:
                last_error = str(exc)
                server._kill()
        raise DovecotFailed(last_error)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DovecotFailed(f"Dovecot exited with {self.process.returncode}:\n{self._output()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    sock.settimeout(2.0)
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                # not listening yet: wait for the process (returns early when it exits) instead of sleeping
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.05)
        raise DovecotFailed(f"Dovecot did not answer on {self.host}:{self.port} within {START_TIMEOUT} s")

    def _output(self) -> str:
        log = self.root / "dovecot.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if self.process.stdout is not None and self.process.poll() is not None:
            text += self.process.stdout.read().decode(errors="replace")
        return text[-4000:]

    def _kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- helpers (synchronous, stdlib imaplib) ------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))

    @contextlib.contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            imap.login(self.user, self.password)
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()  # closes the socket, also after a failed login

    def append(self, raw: bytes, internaldate: datetime | None = None, mailbox: str = "INBOX") -> None:
        self.append_many([raw], internaldate, mailbox)

    def append_many(
        self, raws: Iterable[bytes], internaldate: datetime | None = None, mailbox: str = "INBOX"
    ) -> int:
        when = imaplib.Time2Internaldate(internaldate) if internaldate is not None else None
        count = 0
        with self.session() as imap:
            for raw in raws:
                status, data = imap.append(_quote(mailbox), None, when, raw)
                if status != "OK":
                    raise DovecotFailed(f"APPEND failed: {data!r}")
                count += 1
        return count

    def clear(self, mailbox: str = "INBOX") -> None:
        """Delete every message of ``mailbox`` (UIDs keep counting up; UIDVALIDITY stays)."""
        with self.session() as imap:
            _, data = imap.select(_quote(mailbox))
            if int(data[0] or 0):
                imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                imap.expunge()

    def recreate(self, mailbox: str) -> None:
        """Delete and create ``mailbox`` (not INBOX): a new UIDVALIDITY, UIDs start again at 1."""
        with self.session() as imap:
            imap.delete(_quote(mailbox))
            status, data = imap.create(_quote(mailbox))
            if status != "OK":
                raise DovecotFailed(f"CREATE {mailbox} failed: {data!r}")

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        with self.session() as imap:
            _, data = imap.status(_quote(mailbox), "(UIDVALIDITY)")
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
        if not match:
            raise DovecotFailed(f"no UIDVALIDITY in {data!r}")
        return int(match.group(1))

    def flags(self, mailbox: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags of every message (read with EXAMINE, which changes nothing)."""
        out: dict[int, set[str]] = {}
        with self.session() as imap:
            imap.select(_quote(mailbox), readonly=True)
            _, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
            for item in data:
                if not isinstance(item, bytes):
                    continue
                match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", item) or re.search(
                    rb"FLAGS \(([^)]*)\) UID (\d+)", item
                )
                if match is None:
                    continue
                groups = match.groups()
                uid, flags = (groups[0], groups[1]) if groups[0].isdigit() else (groups[1], groups[0])
                out[int(uid)] = set(flags.decode().split())
        return out

    def count(self, mailbox: str = "INBOX") -> int:
        with self.session() as imap:
            _, data = imap.status(_quote(mailbox), "(MESSAGES)")
        match = re.search(rb"MESSAGES (\d+)", data[0] or b"")
        return int(match.group(1)) if match else 0


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
