"""`hotline mail poll --once` of 1,000 realistic mails as a user runs it (issue 12 §3; DESIGN §5a:
target ≤ 2×), against a raw aioimaplib fetch + parse of the same mails, both timed as whole processes
from spawn to exit, on a private Dovecot.

The mails are `benchmarks.mail_corpus.realistic` (shaped like production: multipart/alternative with
base64 and quoted-printable parts, Big5, HTML only, flowed text, RFC 2047, one sender each, a few crises
and some distress). Each hotline round is the installed ``hotline`` command on a new SQLite database,
mail only (no Telegram), with an SMTP server (aiosmtpd, its own process) that counts what it receives:
every round must leave exactly one acknowledgement per sender. The floor is
``python -m benchmarks.mail_raw_fetch fetch ...`` (interpreter start-up, aioimaplib, UID FETCH in
batches of 200, ``email`` parse with the text body read). Also printed: the same command with the
learned screening layer off (where its cost shows), and the start-up of ``hotline --help`` and
``hotline screen`` (empty stdin).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks.deadline import deadline_option, doing, run_main
from benchmarks.mail_corpus import describe, realistic
from benchmarks.mail_raw_fetch import fill_mailbox
from hotline.sandbox.stage import DEMO_SECRET
from tests.servers.dovecot import DovecotServer, free_port

DEADLINE = 1800  # seconds, the whole run (the learned round takes minutes): several times its normal run
ROOT = Path(__file__).resolve().parent.parent
HOTLINE = [str(Path(sys.executable).with_name("hotline"))]


def _wait_port(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the SMTP server stopped at start-up")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the SMTP server did not start")


class SmtpCounter:
    """`benchmarks.smtp_count` in its own process, recording each recipient to a file."""

    def __init__(self, record: Path) -> None:
        self.host, self.port, self.record = "127.0.0.1", free_port(), record
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.smtp_count", self.host, str(self.port), str(record)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.host, self.port, self.process)

    def received(self) -> Counter[str]:
        return Counter(self.record.read_text(encoding="utf-8").split())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


CPU: list[float] = []  # the processor seconds (user + system) of each timed command, its helpers included


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    argv: Sequence[str], env: Mapping[str, str] | None = None, stdin: bytes = b""
) -> tuple[float, bytes]:
    """Seconds from spawn to exit, and stdout; a non-zero exit is an error (with its stderr). The
    processor seconds it used go to ``CPU`` (on a loaded machine they vary less than the clock)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    CPU.append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return seconds, done.stdout


def _env(extra: Mapping[str, str]) -> dict[str, str]:
    # Without PYTHONPATH: the command runs the code of its own install (``--command`` of another checkout
    # must not import this one's). Without PYTHONDONTWRITEBYTECODE: see `compile_bytecode`.
    dropped = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_") and k not in dropped}
    env.update(extra)
    return env


def compile_bytecode(command: Sequence[str]) -> None:
    """Compile the command's ``hotline`` package (and these benchmarks, for the floor) to bytecode, as
    installing the wheel does: a checkout run with PYTHONDONTWRITEBYTECODE=1 (this machine's shell)
    would otherwise compile ~120 modules from source at every start, a cost no installed command has."""
    python = str(Path(command[0]).with_name("python"))
    where = "import hotline, os; print(os.path.dirname(hotline.__file__))"
    package = subprocess.run([python, "-c", where], env=_env({}), capture_output=True, text=True, check=True)
    for directory in (package.stdout.strip(), str(ROOT / "benchmarks")):
        subprocess.run([python, "-m", "compileall", "-q", directory], env=_env({}), check=True)


def poll(
    imap: DovecotServer, tmp: Path, *, learned: bool = True, command: Sequence[str] = HOTLINE
) -> tuple[float, Counter[str]]:
    """One `hotline mail poll --once` into a new database: (seconds, recipients the SMTP server got)."""
    db = tmp / f"poll-{time.monotonic_ns()}.db"
    smtp = SmtpCounter(tmp / f"smtp-{time.monotonic_ns()}.txt")
    try:
        env = _env(
            {
                "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                "HOTLINE_SECRET_KEY": DEMO_SECRET,
                "HOTLINE_IMAP_HOST": imap.host,
                "HOTLINE_IMAP_PORT": str(imap.port),
                "HOTLINE_IMAP_USER": imap.user,
                "HOTLINE_IMAP_PASSWORD": imap.password,
                "HOTLINE_IMAP_SECURITY": "none",
                "HOTLINE_SMTP_HOST": smtp.host,
                "HOTLINE_SMTP_PORT": str(smtp.port),
                "HOTLINE_SMTP_SECURITY": "none",
                "HOTLINE_MAIL_FROM": "station@hotline.example",
                "HOTLINE_SCREENING__LEARNED": "true" if learned else "false",
            }
        )
        seconds, _ = timed([*command, "mail", "poll", "--once"], env)
        return seconds, smtp.received()
    finally:
        smtp.stop()


def startup(command: Sequence[str] = HOTLINE, rounds: int = 5) -> None:
    """Start-up and exit of commands that do (almost) nothing."""
    env = _env({"HOTLINE_DATABASE_URL": "sqlite+aiosqlite:///:memory:"})
    for label, argv in (
        ("hotline --help", [*command, "--help"]),
        ("hotline screen < /dev/null", [*command, "screen"]),
        ("hotline screen --lexicon-only < /dev/null", [*command, "screen", "--lexicon-only"]),
        ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
    ):
        best = statistics.median(timed(argv, env)[0] for _ in range(rounds))
        print(f"  {label:<44} {best:.3f} s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks mail", description=__doc__.split("\n", 1)[0])
    parser.add_argument("mails", type=int, nargs="?", default=1000, help="mails in the inbox (1,000)")
    parser.add_argument("--rounds", type=int, default=3, help="of the floor and the learned-off command")
    parser.add_argument("--learned-rounds", type=int, default=1, help="with the learned layer (minutes each)")
    parser.add_argument("--startup-rounds", type=int, default=5, help="of each start-up command")
    parser.add_argument(
        "--command", help="another hotline executable (another checkout's, for a before/after)"
    )
    deadline_option(parser, DEADLINE)
    args = parser.parse_args(argv)
    command = [args.command] if args.command else HOTLINE
    return run_main(
        "mail benchmark",
        args.deadline,
        lambda: run(args.mails, args.rounds, args.learned_rounds, args.startup_rounds, command),
    )


def run(n: int, rounds: int, learned_rounds: int, startup_rounds: int, command: Sequence[str]) -> None:
    print(f"start-up, median of {startup_rounds} (spawn to exit), {command[0]}:")
    doing("compiling bytecode")
    compile_bytecode(command)
    doing("the start-up commands")
    startup(command, startup_rounds)
    print(f"corpus: {describe(n)}")
    doing("starting Dovecot and filling the inbox")
    imap = DovecotServer.start()
    try:
        fill_mailbox(imap.host, imap.port, imap.user, imap.password, n, messages=realistic(n))
        floor = [sys.executable, "-m", "benchmarks.mail_raw_fetch", "fetch", imap.host, str(imap.port)]
        floor += [imap.user, imap.password]
        raws: list[float] = []
        ours: list[float] = []
        plain: list[float] = []
        cpu: dict[str, list[float]] = {"floor": [], "learned": [], "plain": []}
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(max(rounds, learned_rounds)):
                if round_ < rounds:
                    doing(f"the fetch + parse floor, round {round_ + 1}")
                    seconds, out = timed(floor, _env({}))
                    assert int(out) == n, out
                    raws.append(seconds)
                    cpu["floor"].append(CPU[-1])
                for learned, into, wanted in ((False, plain, rounds), (True, ours, learned_rounds)):
                    if round_ >= wanted:
                        continue
                    doing(
                        f"hotline mail poll --once, learned layer {'on' if learned else 'off'}, round {round_ + 1}"
                    )
                    seconds, received = poll(imap, Path(tmp), learned=learned, command=command)
                    # Exactly one mail per sender, and a mail to each of the n senders.
                    assert len(received) == n and set(received.values()) == {1}, received.most_common(2)
                    into.append(seconds)
                    cpu["learned" if learned else "plain"].append(CPU[-1])
        r, p = statistics.median(raws), statistics.median(plain)
        c = {key: statistics.median(values) if values else 0.0 for key, values in cpu.items()}
        print(f"whole processes, spawn to exit (median of {rounds}; learned layer on: of {learned_rounds}):")
        print(f"  raw aioimaplib fetch + email parse        {r:.3f} s  (cpu {c['floor']:.1f} s)")
        if ours:
            o = statistics.median(ours)
            print(
                f"  hotline mail poll --once                  {o:.3f} s  (cpu {c['learned']:.1f} s; "
                f"{n} acks received, one per sender)"
            )
            print(f"  ratio                                     {o / r:.2f}x  (target <= 2x)")
        print(
            f"  the same with the learned layer off       {p:.3f} s  (cpu {c['plain']:.1f} s; {p / r:.2f}x; "
            f"{n} acks received, one per sender)"
        )
        print(f"  load average at the end                   {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        imap.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
