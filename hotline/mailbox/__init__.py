"""The e-mail station's adapters: parsing (pure), composing (pure), the IMAP poller and the SMTP sender.

parse.parse_message(raw) -> ParsedMail        never raises
compose.compose_reply(...) -> (msg, msg_id)   compose.render_bytes(msg) -> bytes
imap.ImapPoller(config, cursors, sink)        poll_once() / run(stop)
smtp.send(config, msg)                        raises MailSendFailed
errors: MailError > MailboxUnavailable, MailboxAuthFailed, MailSendFailed
"""

from hotline.mailbox.errors import MailboxAuthFailed, MailboxUnavailable, MailError, MailSendFailed
from hotline.mailbox.parse import Attachment, ParsedMail, parse_message
from hotline.mailbox.ports import FetchedMail, MailCursorStore, MailSink

__all__ = [
    "Attachment",
    "FetchedMail",
    "MailCursorStore",
    "MailError",
    "MailSendFailed",
    "MailSink",
    "MailboxAuthFailed",
    "MailboxUnavailable",
    "ParsedMail",
    "parse_message",
]
