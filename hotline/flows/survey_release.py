"""Which attributes a month's survey answers may keep so that none singles anyone out (issue 17), pure.

An answer keeps its month and, as far as it hides the writer among ``K`` or more, its channel. Once the
month is over, the invitations of each channel that month are known (``survey_invitations``) and one
decision is made for the whole month:

- a month with fewer than ``K`` invitations in all keeps no answer (:func:`recode` returns None);
- a channel with ``K`` or more invitations keeps its name;
- the others are merged into :data:`MERGED`; while the merged group holds between 1 and ``K - 1``
  invitations, the smallest kept channel joins it.

So every stored answer's (channel, month) matches at least ``K`` invited cases of its month, and a merged
answer cannot be told apart by elimination: the same channels are merged for every answer of the month,
whatever each answer says. The area of a case is never kept at all (the report does not use it, and
areas are where single cases hide).
"""

from __future__ import annotations

from collections.abc import Mapping

K = 5  # the fewest cases any stored answer may match (the report's small-cell threshold too)
MERGED = "merged"  # the channel of answers whose own channel had too few cases that month


def recode(invited: Mapping[str, int], k: int = K) -> dict[str, str] | None:
    """The channel each answer of a month is stored under, from that month's invitations per channel;
    None when the month had fewer than ``k`` invitations in all (its answers are not kept).

    >>> recode({"telegram": 12, "email": 3, "face_to_face": 1})
    {'telegram': 'telegram', 'email': 'merged', 'face_to_face': 'merged'}
    """
    counts = {channel: n for channel, n in invited.items() if n > 0}
    if sum(counts.values()) < k:
        return None
    kept = sorted((c for c, n in counts.items() if n >= k), key=lambda c: (counts[c], c))
    merged = sum(n for c, n in counts.items() if c not in kept)
    while 0 < merged < k:
        smallest = kept.pop(0)  # the total is at least k, so a kept channel is left while merged < k
        merged += counts[smallest]
    return {channel: channel if channel in kept else MERGED for channel in counts}


__all__ = ["MERGED", "K", "recode"]
