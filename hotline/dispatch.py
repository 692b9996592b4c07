"""What one transaction decided to send, delivered after its commit by the ordering rule.

Every message is added with the :class:`~hotline.flows.effects.Urgency` of the effect that made it
(:func:`~hotline.flows.effects.urgency`); :meth:`Dispatch.send` delivers the crisis replies to the
employee first, then the crisis alerts to counselors, then the rest in the order they were added. Where
an effect sits in the flow's list does not decide it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.alerts import PreparedAlert
from hotline.desk import Desk, Outgoing
from hotline.flows.effects import Urgency, in_delivery_order
from hotline.pacing import urgent


@dataclass
class Dispatch:
    items: list[tuple[Urgency, Outgoing | PreparedAlert]] = field(default_factory=list)

    def add(self, urgency: Urgency, item: Outgoing) -> None:
        self.items.append((urgency, item))

    def routine(self, item: Outgoing) -> None:
        self.items.append((Urgency.ROUTINE, item))

    def alert(self, alert: PreparedAlert) -> None:
        self.items.append((Urgency.ALERT, alert))

    async def send(self, desk: Desk) -> None:
        """Deliver in rule order; a failed send is logged by the desk and does not stop the rest."""
        for rank, item in in_delivery_order([(u, (u, i)) for u, i in self.items]):
            if isinstance(item, PreparedAlert):
                # Crisis messages (hotline/pacing.py); one queued behind a burst to the same counselor
                # waits for its turn in the background (hotline/alert_lanes.py).
                await desk.alerts.send_alert(item, hold=False)
            elif rank is Urgency.CRISIS_REPLY:
                with urgent():  # before any ordinary message waiting for the same chat
                    await desk.deliver([item])
            else:
                await desk.deliver([item])
