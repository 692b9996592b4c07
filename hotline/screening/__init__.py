"""Crisis screening, pure: text in, ``Screening(risk, cues)`` out.

Build a ``Screener`` from the parsed lexicon (``Screener.from_mapping``); ``hotline.screening_loader``
reads it from ``config/``. Nothing in this package performs I/O.
"""

from hotline.screening.lexicon import Entry, Lexicon, LexiconError, Role, parse_lexicon
from hotline.screening.screener import Layer, Screener, merge

__all__ = ["Entry", "Layer", "Lexicon", "LexiconError", "Role", "Screener", "merge", "parse_lexicon"]
