"""E-mail behind the one employee port: the outbox adapter (``station.mail_channel``) is an
``EmployeeChannel`` like Telegram's and LINE's, and a send through it queues exactly one threaded mail
in the caller's unit of work. A real Dovecot, aiosmtpd and SQLite (the station fixture)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from hotline.crypto import CONTACT_CONTEXT, MAIL_CONTEXT
from hotline.desk import Desk
from hotline.domain import Channel
from hotline.errors import ChannelError
from hotline.mailbox.parse import parse_message
from hotline.ports import EmployeeChannel, Recipient
from hotline.sandbox.stage import Stage
from hotline.station.batch import Batch
from hotline.station.mail_channel import MailReplies, MailThread, batch_queue, mail_recipient, session_queue
from hotline.station.outbox import Outbox
from hotline.storage.mail_keys import sender_key, stored_key
from hotline.storage.models import Case, ThreadKey
from hotline.storage.models import Outbox as OutboxRow
from tests.servers.dovecot import DovecotServer
from tests.station.test_station import RECEIVED, cases, mail, poll, station  # noqa: F401  (fixture)

WORKER = "worker@agency.example.gov.tw"


def as_port(adapter: MailReplies) -> EmployeeChannel:
    """mypy --strict checks here that the e-mail adapter satisfies the same port as Telegram and LINE."""
    return adapter


def services(stage: Stage) -> tuple[Outbox, Desk]:
    outbox, desk = stage.running.outbox, stage.running.desk
    assert outbox is not None and desk is not None
    return outbox, desk


async def outbox_rows(stage: Stage) -> list[OutboxRow]:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        return list((await s.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())


async def thread_keys(stage: Stage, case_id: int) -> int:
    async with stage.running.store.unit() as s:  # type: ignore[union-attr]
        return int(await s.scalar(select(func.count()).where(ThreadKey.case_id == case_id)) or 0)


def opened(stage: Stage, row: OutboxRow) -> tuple[str, EmailMessage]:
    vault = stage.running.store.vault  # type: ignore[union-attr]
    to = vault.decrypt(row.recipient_enc, context=CONTACT_CONTEXT)
    message = message_from_bytes(
        vault.decrypt_bytes(row.raw_enc, context=MAIL_CONTEXT), policy=policy.default
    )
    assert isinstance(message, EmailMessage)
    return to, message


async def new_case(stage: Stage, imap_server: DovecotServer) -> Case:
    imap_server.append(mail("最近好累", "工作壓力很大。", message_id="<p1@agency.example.gov.tw>"), RECEIVED)
    assert await poll(stage) == (1, 1)  # the case and its acknowledgement
    [case] = await cases(stage)
    return case


@pytest.mark.parametrize("unit", ["batch", "session"])
async def test_a_send_through_the_port_queues_one_threaded_mail(
    station: Stage,  # noqa: F811
    imap_server: DovecotServer,
    unit: str,
) -> None:
    case = await new_case(station, imap_server)
    assert case.id is not None
    before, keys_before = await outbox_rows(station), await thread_keys(station, case.id)
    answered = parse_message(
        mail(f"Re: [{case.code}] 最近好累", "還是很累。", message_id="<p2@agency.example.gov.tw>",
             references="<p1@agency.example.gov.tw>")
    )  # fmt: skip
    (outbox, desk), store = services(station), station.running.store
    assert store is not None
    async with store.unit() as s:
        stored = await s.get(Case, case.id)
        assert stored is not None
        batch = Batch(
            s, desk.now(), lambda i: stored_key(store.vault, i),
            lambda who, i: sender_key(store.vault, who, i),
        )  # fmt: skip
        queue = batch_queue(batch) if unit == "batch" else session_queue(s, store.vault)
        port = as_port(MailReplies(outbox, MailThread.replying_to(answered, stored), queue, kind="crisis"))
        ref = await port.send_text(mail_recipient(WORKER), "請撥 1925")
        if unit == "batch":
            await batch.flush()

    after = await outbox_rows(station)
    assert len(after) == len(before) + 1, "one send, one outbox row"
    row = after[-1]
    assert row.case_id == case.id and row.kind == "crisis" and row.status == "pending"
    assert row.message_id == ref, "the port's reference is the mail's Message-ID"
    to, message = opened(station, row)
    assert to == WORKER
    assert message["In-Reply-To"] == "<p2@agency.example.gov.tw>"
    assert message["References"].split() == ["<p1@agency.example.gov.tw>", "<p2@agency.example.gov.tw>"]
    assert message["Subject"] == f"Re: [{case.code}] 最近好累"
    assert message["Auto-Submitted"] == "auto-replied"
    body = message.get_body(("plain",))
    assert body is not None and "1925" in body.get_content()
    assert await thread_keys(station, case.id) == keys_before + 1, "a reply to it joins the case"


async def test_the_mail_port_has_no_buttons_no_edits_and_only_mail_recipients(
    station: Stage,  # noqa: F811
    imap_server: DovecotServer,
) -> None:
    case = await new_case(station, imap_server)
    before = await outbox_rows(station)
    (outbox, desk), store = services(station), station.running.store
    assert store is not None
    async with store.unit() as s:
        thread = MailThread("最近好累", None, (), None)
        port = as_port(MailReplies(outbox, thread, session_queue(s, store.vault), kind="answer", auto=False))
        with pytest.raises(ChannelError):
            await port.send_choices(mail_recipient(WORKER), "選一個", [[("好", "yes")]])
        with pytest.raises(ChannelError):
            await port.edit(mail_recipient(WORKER), "<x@hotline.example>", "改過")
        with pytest.raises(ChannelError):
            await port.send_text(Recipient(Channel.TELEGRAM.value, "12345"), "不是信")
    assert [r.id for r in await outbox_rows(station)] == [r.id for r in before], "nothing was queued"
    # The adapter is made per reply, not registered: who the employee is on a chat channel is unchanged.
    assert Channel.EMAIL.value not in desk.channels
    assert case.channel == Channel.EMAIL.value
