"""How Message-IDs are kept: ``mails.dedup_key`` and ``thread_keys.message_id`` hold a keyed digest
(`hotline.crypto.Vault.mail_key`), never the id itself, which often names the sender's mail host or
even their computer. Lookups digest the ids of an incoming mail the same way.

Two kinds of thread key (issue 19): our own outgoing Message-IDs, random and made here, are keyed as
they are (`stored_key`): whoever answers one of our mails joins its case. A sender's Message-IDs (their
mail's own and those it refers to) are keyed together with that sender's address (`sender_key`): they
thread only that sender's later mail, so an id sent first by someone else (guessed, or copied from a CC)
cannot pull the real sender's mail into another case."""

from __future__ import annotations

import hashlib

from hotline.crypto import Vault
from hotline.domain import email_identity

MAX_KEY_CHARS = 300  # Message-IDs longer than this are digested before they are keyed


def fit(key: str) -> str:
    """A Message-ID of sane length: longer ids (rare, but seen) become a digest first."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def stored_key(vault: Vault, message_id: str) -> str:
    """A Message-ID (or a mail's dedup digest) as the database holds it, under the current key."""
    return vault.mail_key(fit(message_id))


def sender_key(vault: Vault, sender: str, message_id: str) -> str:
    """A sender's Message-ID as a thread key: good only for mail from the same address."""
    return stored_key(vault, f"{email_identity(sender)} {message_id}")
