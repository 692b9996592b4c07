"""LINE's pseudonyms outside the cases (issue 15), on SQLite and PostgreSQL: the block list and the user
keys of events not yet carried out are erased by /forget and the retention purge, and follow the person
through `hotline keys rotate`."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from hotline.bot.inbox import seal_replies
from hotline.crypto import Vault
from hotline.desk import Outgoing
from hotline.domain import Category, Channel
from hotline.line.send import line_recipient
from hotline.privacy.audit import entries
from hotline.privacy.forget import forget, forget_unknown
from hotline.privacy.purge import purge, years_before
from hotline.privacy.rotate import rotate_keys
from hotline.settings import RetentionSection
from hotline.storage import line_repo, repo
from hotline.storage.models import Employee, LineEvent
from hotline.storage.repo import Store
from tests.privacy.support import KEY_A, KEY_B, NOW, make_store

MEI, JIE, ANN = "U" + "1" * 32, "U" + "2" * 32, "U" + "3" * 32
RETENTION = RetentionSection(closed_case_years=10, contact_days=30)


def event(event_id: str, user: str) -> dict[str, object]:
    return {
        "type": "message", "mode": "active", "timestamp": 1, "webhookEventId": event_id,
        "source": {"type": "user", "userId": user}, "replyToken": "t",
        "message": {"id": "1", "type": "text", "text": "你好", "quoteToken": "q"},
    }  # fmt: skip


async def line_employee(store: Store, user: str) -> Employee:
    """A LINE employee with a case (contact = the user id), as the runner keeps them."""
    vault = store.vault
    async with store.unit() as s:
        employee = await repo.ensure_employee(s, vault.pseudonym(Channel.LINE.value, user), Channel.LINE, NOW)
        employee.contact_enc = vault.encrypt(user, context=b"contact")
        await repo.open_case(
            s, channel=Channel.LINE, employee_id=employee.id, category=Category.FAMILY, now=NOW
        )
        return employee


async def blocked(store: Store) -> set[str]:
    async with store.unit() as s:
        return await line_repo.blocked(s)


async def test_forget_erases_the_block_list_entry(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        employee = await line_employee(store, MEI)
        async with store.unit() as s:
            await line_repo.set_blocked(s, employee.pseudonym, True, NOW)
        async with store.unit() as s:
            loaded = await s.get(Employee, employee.id)
            assert loaded is not None
            await forget(s, loaded, NOW)
        assert await blocked(store) == set()
    finally:
        await store.close()


def sealed_event(vault: Vault, event_id: str, user: str) -> tuple[str, str, bytes]:
    raw = json.dumps(event(event_id, user))
    return (
        event_id,
        vault.pseudonym(Channel.LINE.value, user),
        vault.encrypt(raw, context=line_repo.EVENT_CONTEXT),
    )


async def events_by_id(store: Store) -> dict[str, LineEvent]:
    async with store.unit() as s:
        return {row.event_id: row for row in (await s.scalars(select(LineEvent))).all()}


async def test_forget_erases_the_users_set_aside_and_left_over_events(db_url: str) -> None:
    """/forget (carried out as the user's event E4): their event set aside (E1) and the one left over
    before it (E2, failed in every attempt) lose content and user key; their event after it (E5, written
    after asking) and another user's (E3) are kept, to be carried out as usual."""
    store = await make_store(db_url)
    vault = store.vault
    try:
        employee = await line_employee(store, MEI)
        async with store.unit() as s:
            rows = [sealed_event(vault, f"E{i}", JIE if i == 3 else MEI) for i in range(1, 6)]
            seq = {event_id: n for n, event_id, _ in await line_repo.add_events(s, rows, NOW)}
            started = await line_repo.start_next(s, employee.pseudonym, "w1")
            assert started is not None and started.seq == seq["E1"]
            await line_repo.set_aside(s, started.seq, "w1", NOW)
        async with store.unit() as s:
            assert await line_repo.set_aside_count(s) == 1
        token = line_repo.CARRYING_OUT.set(seq["E4"])
        try:
            async with store.unit() as s:
                loaded = await s.get(Employee, employee.id)
                assert loaded is not None
                gone = await forget(s, loaded, NOW)
        finally:
            line_repo.CARRYING_OUT.reset(token)
        found = await events_by_id(store)
        for erased in ("E1", "E2"):
            row = found[erased]
            assert (row.payload_enc, row.replies_enc, row.user_key) == (None, None, None), erased
            assert row.done_at is not None, f"{erased} counts as done (never carried out now)"
        for kept in ("E3", "E4", "E5"):
            assert found[kept].payload_enc is not None and found[kept].done_at is None, kept
        assert found["E5"].user_key == employee.pseudonym
        assert gone.line_events == 2
        async with store.unit() as s:
            assert await line_repo.set_aside_count(s) == 0
            [audited] = [e.detail for e in await entries(s) if e.action == "forget"]
        assert audited is not None and audited["line_events"] == 2
    finally:
        await store.close()


async def test_forget_from_someone_without_a_record_erases_their_set_aside_event(db_url: str) -> None:
    """Never accepted the notice (no employee row), yet their crisis event was set aside: /forget erases
    it and records the erasure, naming no one."""
    store = await make_store(db_url)
    vault = store.vault
    try:
        pseudonym = vault.pseudonym(Channel.LINE.value, ANN)
        async with store.unit() as s:
            await line_repo.add_events(s, [sealed_event(vault, "E1", ANN)], NOW)
            started = await line_repo.start_next(s, pseudonym, "w1")
            assert started is not None
            await line_repo.set_aside(s, started.seq, "w1", NOW)
        async with store.unit() as s:
            assert await forget_unknown(s, pseudonym, NOW) == 1
            assert await forget_unknown(s, pseudonym, NOW) == 0
        row = (await events_by_id(store))["E1"]
        assert (row.payload_enc, row.user_key) == (None, None)
        async with store.unit() as s:
            audited = [e for e in await entries(s) if e.action == "forget"]
        assert len(audited) == 1 and audited[0].detail == {
            "cases": 0,
            "messages": 0,
            "mails": 0,
            "line_events": 1,
            "telegram_updates": 0,
        }
    finally:
        await store.close()


async def test_the_purge_erases_a_set_aside_event_after_contact_days(db_url: str) -> None:
    store = await make_store(db_url)
    vault = store.vault
    try:
        async with store.unit() as s:
            await line_repo.add_events(s, [sealed_event(vault, "E1", ANN)], NOW)
            started = await line_repo.start_next(s, vault.pseudonym(Channel.LINE.value, ANN), "w1")
            assert started is not None
            await line_repo.set_aside(s, started.seq, "w1", NOW + timedelta(minutes=5))
        early = await purge(store, RETENTION, now=NOW + timedelta(days=29), compact_after=False)
        assert early.line_events == 0 and (await events_by_id(store))["E1"].payload_enc is not None
        report = await purge(store, RETENTION, now=NOW + timedelta(days=31), compact_after=False)
        row = (await events_by_id(store))["E1"]
        assert report.line_events == 1 and (row.payload_enc, row.user_key) == (None, None)
        assert row.done_at == NOW + timedelta(minutes=5), "when it was set aside stays"
        async with store.unit() as s:
            assert await line_repo.set_aside_count(s) == 0
    finally:
        await store.close()


async def test_the_purge_erases_stale_block_list_entries_and_events_never_carried_out(db_url: str) -> None:
    store = await make_store(db_url)
    vault = store.vault
    try:
        kept = await line_employee(store, MEI)  # a case within retention: nothing may be pushed to her
        stranger = vault.pseudonym(Channel.LINE.value, JIE)  # blocked after the notice: no contact data
        async with store.unit() as s:
            await line_repo.set_blocked(s, kept.pseudonym, True, NOW)
            await line_repo.set_blocked(s, stranger, True, NOW)
            sealed = vault.encrypt(json.dumps(event("E1", ANN)), context=line_repo.EVENT_CONTEXT)
            await line_repo.add_events(s, [("E1", vault.pseudonym(Channel.LINE.value, ANN), sealed)], NOW)
        report = await purge(store, RETENTION, now=NOW + timedelta(days=31), compact_after=False)
        assert (report.line_blocked, report.line_events) == (1, 1)
        assert await blocked(store) == {kept.pseudonym}
        async with store.unit() as s:
            [row] = (await s.scalars(select(LineEvent))).all()
            assert (row.event_id, row.user_key, row.payload_enc) == ("E1", None, None) and row.done_at
        again = await purge(store, RETENTION, now=NOW + timedelta(days=31), compact_after=False)
        assert (again.line_blocked, again.line_events) == (0, 0)
        later = years_before(NOW, -10) + timedelta(days=1)  # her contact data went with her case's record
        async with store.unit() as s:
            loaded = await s.get(Employee, kept.id)
            assert loaded is not None
            loaded.contact_enc = None
        assert (await purge(store, RETENTION, now=later, compact_after=False)).line_blocked == 1
        assert await blocked(store) == set()
    finally:
        await store.close()


async def test_key_rotation_re_keys_the_block_list_and_pending_events(db_url: str) -> None:
    store = await make_store(db_url, Vault(KEY_A))
    old = store.vault
    employee = await line_employee(store, MEI)
    async with store.unit() as s:
        await line_repo.set_blocked(s, employee.pseudonym, True, NOW)
        await line_repo.set_blocked(s, old.pseudonym(Channel.LINE.value, JIE), True, NOW)  # no contact data
        rows = [
            ("E1", old.pseudonym(Channel.LINE.value, ANN), old.encrypt(json.dumps(event("E1", ANN)), context=line_repo.EVENT_CONTEXT)),
            ("E2", old.pseudonym(Channel.LINE.value, MEI), old.encrypt(json.dumps(event("E2", MEI)), context=line_repo.EVENT_CONTEXT)),
        ]  # fmt: skip
        [(_, _, _), (settled, _, _)] = await line_repo.add_events(s, rows, NOW)
        assert await line_repo.start_next(s, old.pseudonym(Channel.LINE.value, MEI), "w1") is not None
        await line_repo.settle(
            s, settled, "w1", seal_replies(old, [Outgoing(line_recipient(MEI), "已決定的回覆")])
        )
    await store.close()

    store = Store(db_url, Vault(KEY_B, (KEY_A,)))
    new = store.vault
    try:
        report = await rotate_keys(store, compact_after=False)
        assert report.completed and (report.line_keys, report.line_dropped) == (3, 1)
        assert await blocked(store) == {new.pseudonym(Channel.LINE.value, MEI)}
        async with store.unit() as s:
            keys = (await s.scalars(select(LineEvent.user_key).order_by(LineEvent.seq))).all()
        assert keys == [new.pseudonym(Channel.LINE.value, ANN), new.pseudonym(Channel.LINE.value, MEI)]
        again = await rotate_keys(store, compact_after=False)
        assert (again.line_keys, again.line_dropped) == (0, 0)
    finally:
        await store.close()


async def test_key_rotation_re_keys_an_event_set_aside(db_url: str) -> None:
    """A set-aside event keeps its user key (to be queued again in the user's order): rotation makes it
    again under the new key, as for events not yet carried out."""
    store = await make_store(db_url, Vault(KEY_A))
    old = store.vault
    async with store.unit() as s:
        sealed = old.encrypt(json.dumps(event("E9", MEI)), context=line_repo.EVENT_CONTEXT)
        [(seq, _, _)] = await line_repo.add_events(
            s, [("E9", old.pseudonym(Channel.LINE.value, MEI), sealed)], NOW
        )
        assert await line_repo.start_next(s, old.pseudonym(Channel.LINE.value, MEI), "w1") is not None
        await line_repo.set_aside(s, seq, "w1", NOW)
    await store.close()

    store = Store(db_url, Vault(KEY_B, (KEY_A,)))
    try:
        report = await rotate_keys(store, compact_after=False)
        assert report.completed
        async with store.unit() as s:
            row = await s.get(LineEvent, seq)
            assert row is not None and row.done_at is not None and row.payload_enc is not None
            assert row.user_key == store.vault.pseudonym(Channel.LINE.value, MEI)
            assert await line_repo.set_aside_count(s) == 1
    finally:
        await store.close()
