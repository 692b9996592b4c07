"""Content encryption (AES-GCM) and pseudonyms (HMAC-SHA256), keys derived from HOTLINE_SECRET_KEY.

Ciphertext layout: ``b"\\x01" + key_id (4 bytes) + nonce (12 bytes) + AES-GCM(ciphertext || tag)``.
The key id lets ``hotline keys rotate`` re-encrypt old rows in batches while both keys are known.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hotline.errors import HotlineError

_VERSION = b"\x01"

# What each kind of value is sealed with (AES-GCM associated data): a blob moved to another column fails.
CONTENT_CONTEXT = b"content"  # what was said
CONTACT_CONTEXT = b"contact"  # how to reach someone
MAIL_CONTEXT = b"mail"  # raw mail in and out
_NONCE_BYTES = 12


class DecryptionFailed(HotlineError):
    """A stored value could not be decrypted with any known key."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hotline/v1", info=purpose).derive(
        secret.encode("utf-8")
    )


def key_id_of(secret: str) -> bytes:
    """A short, non-secret fingerprint of a secret (first 4 bytes of a derived value)."""
    return _derive(secret, b"key-id")[:4]


class Vault:
    """Encrypts with the current key; decrypts with the current or any older key."""

    __slots__ = ("_current_id", "_keys", "_mail_key", "_pseudonym_key")

    def __init__(self, secret: str, older: tuple[str, ...] = ()) -> None:
        self._keys = {key_id_of(s): AESGCM(_derive(s, b"content")) for s in (secret, *older)}
        self._current_id = key_id_of(secret)
        self._pseudonym_key = _derive(secret, b"pseudonym")
        self._mail_key = _derive(secret, b"mail-id")

    def __repr__(self) -> str:
        return f"Vault(key_id={self._current_id.hex()}, keys={len(self._keys)})"

    @property
    def current_key_id(self) -> bytes:
        return self._current_id

    def encrypt(self, plaintext: str, *, context: bytes = b"") -> bytes:
        return self.encrypt_bytes(plaintext.encode("utf-8"), context=context)

    def encrypt_bytes(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        aead = self._keys[self._current_id]
        sealed = aead.encrypt(nonce, plaintext, context)
        return _VERSION + self._current_id + nonce + sealed

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> str:
        return self.decrypt_bytes(blob, context=context).decode("utf-8")

    def decrypt_bytes(self, blob: bytes, *, context: bytes = b"") -> bytes:
        if len(blob) < 1 + 4 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise DecryptionFailed("stored value is not in the expected encrypted format")
        key_id, nonce, sealed = blob[1:5], blob[5 : 5 + _NONCE_BYTES], blob[5 + _NONCE_BYTES :]
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionFailed("stored value was encrypted with a key that is not configured")
        try:
            return aead.decrypt(nonce, sealed, context)
        except InvalidTag as exc:
            raise DecryptionFailed("stored value failed its integrity check") from exc

    @property
    def mail_key_prefix(self) -> str:
        """What every `mail_key` under the current key starts with (older ones do not: stale)."""
        return self._current_id.hex() + ":"

    def mail_key(self, message_id: str) -> str:
        """A Message-ID (or a mail's dedup digest) as stored and looked up: an HMAC under the current
        key after the key's id. The database then shows no sender's mail host, and a guessed id cannot
        be confirmed without the key."""
        data = message_id.encode("utf-8", "surrogatepass")
        return self.mail_key_prefix + hmac.new(self._mail_key, data, hashlib.sha256).hexdigest()

    def pseudonym(self, channel: str, identity: str) -> str:
        """A stable keyed pseudonym of a person on a channel (Telegram id, e-mail address)."""
        message = f"{channel}:{identity}".encode()
        return hmac.new(self._pseudonym_key, message, hashlib.sha256).hexdigest()
