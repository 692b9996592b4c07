"""How Message-IDs are kept: ``mails.dedup_key`` and ``thread_keys.message_id`` hold a keyed digest
(`hotline.crypto.Vault.mail_key`), never the id itself, which often names the sender's mail host or
even their computer. Lookups digest the ids of an incoming mail the same way."""

from __future__ import annotations

import hashlib

from hotline.crypto import Vault

MAX_KEY_CHARS = 300  # Message-IDs longer than this are digested before they are keyed


def fit(key: str) -> str:
    """A Message-ID of sane length: longer ids (rare, but seen) become a digest first."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def stored_key(vault: Vault, message_id: str) -> str:
    """A Message-ID (or a mail's dedup digest) as the database holds it, under the current key."""
    return vault.mail_key(fit(message_id))
