"""`mail poll --once`'s helper process: it fetches and parses, this process stores; against Dovecot."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hotline.mailbox.errors import MailboxAuthFailed, MailboxUnavailable
from hotline.mailbox.fetcher import HelperPoller
from hotline.mailbox.memory import InMemoryMailStore
from hotline.mailbox.parse import ParsedMail, parse_message
from hotline.mailbox.ports import FetchedMail
from tests.mailbox.test_mail_imap import config, mail
from tests.servers.dovecot import DovecotServer


class Sink:
    """Stores through the in-memory store; checks what the helper parsed; can fail on one batch."""

    def __init__(self, store: InMemoryMailStore, fail_on: int | None = None) -> None:
        self.store, self.fail_on, self.calls = store, fail_on, 0

    async def store_batch(
        self,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[FetchedMail],
        parsed_ahead: Sequence[ParsedMail] | None = None,
    ) -> None:
        self.calls += 1
        assert parsed_ahead is not None
        assert list(parsed_ahead) == [parse_message(m.raw) for m in messages], "parsed as here, in order"
        if self.calls == self.fail_on:
            raise RuntimeError("disk full")
        await self.store.store_batch(mailbox, uidvalidity, messages)


async def poll(imap: DovecotServer, store: InMemoryMailStore, sink: Sink, **overrides: object) -> int:
    helper = HelperPoller(config(imap, **overrides))
    await helper.start()
    try:
        return await helper.poll_once(store, sink)
    finally:
        await helper.close()


async def test_the_helper_fetches_and_parses_in_batches_and_the_cursor_holds(
    imap_server: DovecotServer,
) -> None:
    imap_server.append_many(mail(i) for i in range(450))
    store = InMemoryMailStore()
    sink = Sink(store)
    assert await poll(imap_server, store, sink) == 450
    assert sink.calls == 3 and len(store.stored) == 450
    assert store.cursors["INBOX"] == (imap_server.uidvalidity(), max(s.mail.uid for s in store.stored))
    assert await poll(imap_server, store, sink) == 0, "the next run starts from the cursor"
    assert all("\\Seen" not in flags for flags in imap_server.flags().values())


async def test_a_failing_store_stops_the_helper_and_the_cursor_stays(imap_server: DovecotServer) -> None:
    imap_server.append_many(mail(i) for i in range(450))
    store = InMemoryMailStore()
    helper = HelperPoller(config(imap_server))
    await helper.start()
    process = helper._process
    with pytest.raises(RuntimeError, match="disk full"):
        await helper.poll_once(store, Sink(store, fail_on=2))
    await helper.close()
    assert process is not None and process.returncode is not None, "the helper is gone"
    assert len(store.stored) == 200 and store.cursors["INBOX"][1] == max(s.mail.uid for s in store.stored)
    assert await poll(imap_server, store, Sink(store)) == 250, "the next run resumes"


async def test_a_refused_login_is_the_same_one_sentence(imap_server: DovecotServer) -> None:
    store = InMemoryMailStore()
    with pytest.raises(MailboxAuthFailed, match="login failed") as caught:
        await poll(imap_server, store, Sink(store), password="not-the-password")
    assert "not-the-password" not in str(caught.value)


async def test_a_helper_that_dies_is_reported_not_waited_for(imap_server: DovecotServer) -> None:
    imap_server.append(mail(1))
    store = InMemoryMailStore()
    helper = HelperPoller(config(imap_server))
    await helper.start()
    assert helper._process is not None
    helper._process.kill()
    with pytest.raises(MailboxUnavailable, match="stopped before it finished"):
        await helper.poll_once(store, Sink(store))
    await helper.close()
    assert store.stored == []
