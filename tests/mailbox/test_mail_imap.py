"""The IMAP poller against a real private Dovecot (no mocks of aioimaplib)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hotline.mailbox.errors import MailboxAuthFailed, MailboxUnavailable
from hotline.mailbox.imap import ImapConfig, ImapPoller, parse_fetch_lines, parse_internaldate, uid_set
from hotline.mailbox.memory import InMemoryMailStore
from hotline.mailbox.ports import FetchedMail
from tests.servers.dovecot import DovecotServer, free_port
from tests.servers.proxy import CuttableProxy

TAIPEI = timezone(timedelta(hours=8))


def mail(n: int, *, message_id: bool = True) -> bytes:
    mid = f"Message-ID: <m{n}@employee.example>\r\n" if message_id else ""
    return (
        f"From: a{n}@employee.example\r\nTo: help@hotline.example\r\nSubject: test {n}\r\n{mid}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n第 {n} 封信\r\n"
    ).encode()


def config(server: DovecotServer, **overrides: object) -> ImapConfig:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": server.password,
        "security": "none",
        "command_timeout": 5.0,
        "connect_timeout": 5.0,
    }
    values.update(overrides)
    return ImapConfig(**values)  # type: ignore[arg-type]


async def test_fetches_everything_once_in_batches_without_setting_seen(imap_server: DovecotServer) -> None:
    imap_server.append_many(mail(i) for i in range(450))
    store = InMemoryMailStore()
    async with ImapPoller(config(imap_server), store, store) as poller:
        assert await poller.poll_once() == 450
        assert await poller.poll_once() == 0  # a second poll fetches nothing new
    assert store.batches == 3  # 200 + 200 + 50
    assert len(store.stored) == 450
    assert len({s.dedup_key for s in store.stored}) == 450
    uids = [s.mail.uid for s in store.stored]
    assert uids == sorted(uids)
    assert store.cursors["INBOX"] == (imap_server.uidvalidity(), max(uids))
    flags = imap_server.flags()
    assert len(flags) == 450
    assert all("\\Seen" not in f and "\\Deleted" not in f for f in flags.values())


async def test_internaldate_is_when_the_mail_arrived_not_when_fetched(imap_server: DovecotServer) -> None:
    arrived = datetime(2026, 11, 20, 10, 15, 0, tzinfo=TAIPEI)
    imap_server.append(mail(1), internaldate=arrived)
    store = InMemoryMailStore()
    async with ImapPoller(config(imap_server), store, store) as poller:
        await poller.poll_once()
    (stored,) = store.stored
    assert stored.mail.internaldate == arrived
    assert stored.mail.internaldate.utcoffset() is not None
    assert stored.mail.raw == mail(1)


async def test_cursor_resume_across_pollers(imap_server: DovecotServer) -> None:
    store = InMemoryMailStore()
    imap_server.append_many(mail(i) for i in range(3))
    async with ImapPoller(config(imap_server), store, store) as poller:
        assert await poller.poll_once() == 3
    imap_server.append_many(mail(i) for i in range(3, 5))
    async with ImapPoller(config(imap_server), store, store) as poller:  # a restart: new connection
        assert await poller.poll_once() == 2
        assert await poller.poll_once() == 0
    assert [s.mail.raw for s in store.stored] == [mail(i) for i in range(5)]


async def test_crash_mid_batch_loses_nothing_and_duplicates_nothing(imap_server: DovecotServer) -> None:
    imap_server.append_many(mail(i) for i in range(450))
    store = InMemoryMailStore(fail_on_batch=lambda number, _: number == 2)  # the 2nd batch "crashes"
    async with ImapPoller(config(imap_server), store, store) as poller:
        with pytest.raises(RuntimeError, match="simulated crash"):
            await poller.poll_once()
        assert len(store.stored) == 200  # batch 1 committed, batch 2 not
        store.fail_on_batch = None
        assert await poller.poll_once() == 250  # resumes after the committed cursor
    assert sorted(s.mail.raw for s in store.stored) == sorted(mail(i) for i in range(450))


async def test_refetch_after_lost_cursor_is_deduplicated(imap_server: DovecotServer) -> None:
    imap_server.append_many([mail(1), mail(2)])
    store = InMemoryMailStore()
    async with ImapPoller(config(imap_server), store, store) as poller:
        await poller.poll_once()
        store.cursors.clear()  # e.g. a restored backup: the dedup keys still protect
        assert await poller.poll_once() == 2  # handed over again ...
    assert len(store.stored) == 2  # ... but not stored twice


async def test_uidvalidity_change_starts_from_the_beginning(dovecot: DovecotServer) -> None:
    dovecot.recreate("Station")
    store = InMemoryMailStore()
    cfg = config(dovecot, mailbox="Station")
    dovecot.append_many([mail(1), mail(2)], mailbox="Station")
    async with ImapPoller(cfg, store, store) as poller:
        assert await poller.poll_once() == 2
        old = store.cursors["Station"]
    dovecot.recreate("Station")  # new UIDVALIDITY; UIDs restart at 1
    dovecot.append_many([mail(2), mail(3), mail(4)], mailbox="Station")
    async with ImapPoller(cfg, store, store) as poller:
        assert await poller.poll_once() == 3
    new = store.cursors["Station"]
    assert new[0] != old[0] and new[1] == 3
    assert [s.mail.raw for s in store.stored] == [mail(1), mail(2), mail(3), mail(4)]  # mail(2) once
    assert {s.uidvalidity for s in store.stored} == {old[0], new[0]}


async def test_mail_without_message_id_is_deduplicated_by_digest(imap_server: DovecotServer) -> None:
    imap_server.append_many([mail(1, message_id=False), mail(1, message_id=False)])
    store = InMemoryMailStore()
    async with ImapPoller(config(imap_server), store, store) as poller:
        assert await poller.poll_once() == 2
    assert len(store.stored) == 1 and store.stored[0].dedup_key.startswith("sha256:")


async def test_wrong_password_is_auth_failed(dovecot: DovecotServer) -> None:
    store = InMemoryMailStore()
    async with ImapPoller(config(dovecot, password="wrong"), store, store) as poller:
        with pytest.raises(MailboxAuthFailed, match=f"^IMAP login failed for user {dovecot.user}$"):
            await poller.poll_once()


async def test_closed_port_is_unavailable() -> None:
    port = free_port()
    store = InMemoryMailStore()
    cfg = ImapConfig(host="127.0.0.1", port=port, user="x", password="y", security="none")
    async with ImapPoller(cfg, store, store) as poller:
        with pytest.raises(
            MailboxUnavailable, match=rf"^cannot reach IMAP server 127.0.0.1:{port}: connection refused$"
        ):
            await poller.poll_once()


async def test_missing_mailbox_is_unavailable(dovecot: DovecotServer) -> None:
    store = InMemoryMailStore()
    async with ImapPoller(config(dovecot, mailbox="NoSuchBox"), store, store) as poller:
        with pytest.raises(MailboxUnavailable, match="'NoSuchBox' cannot be opened"):
            await poller.poll_once()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls(imap_server: DovecotServer, security: str) -> None:
    imap_server.append(mail(1))
    store = InMemoryMailStore()
    port = imap_server.tls_port if security == "tls" else imap_server.port
    cfg = config(imap_server, port=port, security=security, ssl_context=imap_server.ssl_context())
    async with ImapPoller(cfg, store, store) as poller:
        assert await poller.poll_once() == 1


async def test_untrusted_certificate_is_unavailable(dovecot: DovecotServer) -> None:
    store = InMemoryMailStore()
    cfg = config(dovecot, port=dovecot.tls_port, security="tls")  # system CAs: self-signed is refused
    async with ImapPoller(cfg, store, store) as poller:
        with pytest.raises(MailboxUnavailable, match=r"^TLS with IMAP server"):
            await poller.poll_once()


async def test_dropped_connection_times_out_and_reconnects(imap_server: DovecotServer) -> None:
    store = InMemoryMailStore()
    async with CuttableProxy(imap_server.host, imap_server.port) as proxy:
        cfg = config(imap_server, port=proxy.port, command_timeout=0.5)
        async with ImapPoller(cfg, store, store) as poller:
            imap_server.append(mail(1))
            assert await poller.poll_once() == 1
            proxy.cut()  # silence, no FIN: only a timeout can tell
            imap_server.append(mail(2))
            started = asyncio.get_running_loop().time()
            with pytest.raises(MailboxUnavailable, match="did not answer in time"):
                await poller.poll_once()
            assert asyncio.get_running_loop().time() - started < 3
            proxy.restore()
            assert await poller.poll_once() == 1  # a new connection
            assert poller.connections == 2
    assert [s.mail.raw for s in store.stored] == [mail(1), mail(2)]


async def test_run_idles_and_picks_up_new_mail(imap_server: DovecotServer) -> None:
    store = InMemoryMailStore()
    stop = asyncio.Event()
    async with ImapPoller(config(imap_server), store, store) as poller:
        task = asyncio.create_task(poller.run(stop))
        imap_server.append(mail(1))
        await store.wait_for_count(1, within=10)
        imap_server.append(mail(2))  # arrives during IDLE
        await store.wait_for_count(2, within=10)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert poller.connections == 1


async def test_run_survives_a_dropped_connection(imap_server: DovecotServer) -> None:
    store = InMemoryMailStore()
    stop = asyncio.Event()
    async with CuttableProxy(imap_server.host, imap_server.port) as proxy:
        cfg = config(
            imap_server, port=proxy.port, command_timeout=0.5, idle_seconds=0.5, backoff_initial=0.05
        )
        async with ImapPoller(cfg, store, store) as poller:
            task = asyncio.create_task(poller.run(stop))
            imap_server.append(mail(1))
            await store.wait_for_count(1, within=10)
            proxy.cut()
            proxy.restore()  # the hung connection stays dead; new ones work
            imap_server.append(mail(2))
            await store.wait_for_count(2, within=15)
            stop.set()
            await asyncio.wait_for(task, 10)
            assert poller.connections >= 2


async def test_run_backs_off_exponentially_while_the_server_is_down() -> None:
    store = InMemoryMailStore()
    stop = asyncio.Event()
    errors: list[tuple[Exception, float]] = []

    def on_error(exc: Exception, retry_in: float) -> None:
        errors.append((exc, retry_in))
        if len(errors) == 6:
            stop.set()

    port = free_port()
    cfg = ImapConfig(
        host="127.0.0.1",
        port=port,
        user="x",
        password="y",
        security="none",
        backoff_initial=0.01,
        backoff_max=0.04,
    )
    async with ImapPoller(cfg, store, store, on_error=on_error) as poller:
        await asyncio.wait_for(poller.run(stop), 10)
    assert all(isinstance(e, MailboxUnavailable) for e, _ in errors)
    delays = [d for _, d in errors]
    assert delays[0] < 0.012 and 0.018 < delays[1] < 0.022  # doubling, with +-10 % jitter
    assert all(0.036 <= d <= 0.044 for d in delays[3:])  # capped
    assert poller.connections == 6


# ---- pure helpers --------------------------------------------------------------------------------
def test_uid_set() -> None:
    assert uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"


def test_parse_internaldate() -> None:
    assert parse_internaldate(b'INTERNALDATE " 5-Nov-2026 09:01:02 +0800"') == datetime(
        2026, 11, 5, 9, 1, 2, tzinfo=TAIPEI
    )
    assert parse_internaldate(b'INTERNALDATE "31-Dec-2026 23:59:59 -0130"') == datetime(
        2027, 1, 1, 1, 29, 59, tzinfo=UTC
    )
    assert parse_internaldate(b'INTERNALDATE "99-Foo-2026 00:00:00 +0000"') is None


def test_parse_fetch_lines_mixes_bytes_and_bytearray_in_any_order() -> None:
    lines: Sequence[bytes | bytearray] = [
        b'1 FETCH (UID 7 INTERNALDATE "20-Nov-2026 10:15:00 +0800" BODY[] {5}',
        bytearray(b"hello"),
        b")",
        b"2 FETCH (FLAGS (\\Seen) UID 3)",  # unsolicited flag update: no body
        b"* 3 FETCH (BODY[] {3}",
        bytearray(b"abc"),
        b' UID 9 INTERNALDATE "20-Nov-2026 10:16:00 +0800")',
        b"Fetch completed (0.001 + 0.000 secs).",
    ]
    got = parse_fetch_lines(lines)
    assert [(m.uid, m.raw) for m in got] == [(7, b"hello"), (9, b"abc")]
    assert all(isinstance(m, FetchedMail) and isinstance(m.raw, bytes) for m in got)
