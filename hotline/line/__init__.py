"""LINE, a second employee channel (issue 15): the webhook (``webhook.py``), the stored events processed
per user in order (``inbox.py``), the routing of events to the same flows as Telegram (``front.py``)
and the :class:`~hotline.ports.EmployeeChannel` adapter over the Messaging API (``send.py``).
Counselors stay on Telegram; they see a LINE case by its code and the channel name only."""
