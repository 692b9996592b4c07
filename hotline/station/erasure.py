"""The employee's right to be forgotten, by e-mail: the station's side (docs/privacy.md §6).

A request (「刪除我的資料」) is answered with what will and will not be kept, and a one-time code
(`erasure_code`) sent to the address that asked. Only a mail from that address carrying the code, unused
and unexpired, erases; a 「確認刪除」 without it erases nothing and is answered with the explanation and
a new code, so that the address's owner learns that someone asked. Someone the station holds nothing
about is told so, and nothing of theirs is kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.desk import Desk
from hotline.flows import mailcase
from hotline.mailbox.parse import ParsedMail
from hotline.ports import EmployeeChannel
from hotline.privacy.forget import forget
from hotline.station.batch import Batch
from hotline.station.mail_channel import (
    MailReplies,
    MailThread,
    Queue,
    batch_queue,
    mail_recipient,
    session_queue,
)
from hotline.station.outbox import Outbox
from hotline.storage.models import Case, Employee, Mail


class MailErasure:
    def __init__(self, desk: Desk, outbox: Outbox) -> None:
        self.desk = desk
        self.outbox = outbox

    def _reply(self, queue: Queue, mail: ParsedMail, case: Case | None, kind: str) -> EmployeeChannel:
        """The e-mail channel for one machine-sent reply to ``mail``, queued in the caller's unit of work."""
        return MailReplies(self.outbox, MailThread.replying_to(mail, case), queue, kind=kind)

    async def nothing_held(self, batch: Batch, mail: ParsedMail, row: dict[str, Any]) -> None:
        """Someone we hold nothing about asks: say so, and keep only the mail's dedup key (``row``
        without its bytes)."""
        text = self.desk.render("mail.forget_nothing")
        await self._reply(batch_queue(batch), mail, None, "forget_done").send_text(
            mail_recipient(mail.from_address), text
        )
        batch.insert(Mail, {**row, "raw_enc": None}, None)

    async def explain(
        self, batch: Batch, effect: mailcase.ExplainForget, case: Case | None, employee: Employee,
        mail: ParsedMail,
    ) -> None:  # fmt: skip
        """The explanation, with a new one-time code, to the address that asked (or said it confirms)."""
        email = self.desk.settings.email
        code = batch.issue_code(employee, email.forget_code_hours)
        key = "mail.forget_unconfirmed" if effect.unconfirmed else "mail.forget_explain"
        hours = f"{email.forget_code_hours:g}"
        text = self.desk.render(key, keyword=email.forget_confirm_keyword, code=code, hours=hours)
        # In the case's thread, if any: the confirmation will be a reply to this mail and joins the case.
        await self._reply(batch_queue(batch), mail, case, "forget_explain").send_text(
            mail_recipient(mail.from_address), text
        )

    async def erase(self, s: AsyncSession, batch: Batch) -> None:
        """After the batch is written (nothing of theirs is pending): spent and expired codes go, new
        ones are kept; the confirmed erasures are done and each gets its last mail."""
        await batch.settle_codes()
        for employee, address, asked in batch.forgets:
            await forget(s, employee, batch.now)
            text = self.desk.render("mail.forget_done")
            port = self._reply(session_queue(s, self.desk.store.vault), asked, None, "forget_done")
            await port.send_text(mail_recipient(address), text)
