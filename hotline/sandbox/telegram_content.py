"""Contents of the messages a driven user sends: text with command entities, sticker, photo, voice.

Shapes follow the Bot API ``Message`` fields; file ids are deterministic stand-ins (no file download).
"""

from __future__ import annotations

import zlib

from .telegram_model import JSON, command_entities


def _file_id(prefix: str, seed: str) -> tuple[str, str]:
    digest = zlib.crc32(seed.encode())
    return f"{prefix}{digest:010d}", f"AgAD{digest % 10**6:06d}"


def text_content(text: str) -> JSON:
    """``text`` plus ``bot_command`` entities, so python-telegram-bot's CommandHandler matches."""
    content: JSON = {"text": text}
    entities = command_entities(text)
    if entities:
        content["entities"] = entities
    return content


def sticker_content(emoji: str) -> JSON:
    file_id, unique_id = _file_id("CAACAgIAAxkBAAE", emoji)
    return {
        "sticker": {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
    }


def photo_content(caption: str | None) -> JSON:
    sizes = []
    for width in (90, 320, 800):
        file_id, unique_id = _file_id("AgACAgUAAxkBAAIB", f"photo{width}")
        sizes.append(
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": width,
                "height": width * 3 // 4,
                "file_size": width * 40,
            }
        )
    content: JSON = {"photo": sizes}
    if caption is not None:
        content["caption"] = caption
    return content


def voice_content(duration: int) -> JSON:
    file_id, unique_id = _file_id("AwACAgUAAxkBAAIC", f"voice{duration}")
    return {
        "voice": {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": duration * 2000,
        }
    }
