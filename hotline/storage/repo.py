"""The repositories, by the names the service has always imported (``from hotline.storage import repo``).

Each repository is its own module: ``store`` (the database and its units of work), ``roster_repo``,
``employee_repo``, ``case_repo``, ``offer_repo``, ``timer_repo``, ``alert_repo``. This module only
re-exports them.
"""

from __future__ import annotations

from hotline.storage.alert_repo import (
    acknowledge_alerts,
    alerts_of,
    escalate_alerts,
    record_alert,
)
from hotline.storage.case_repo import (
    add_message,
    all_cases,
    case_by_code,
    claim,
    close_case,
    messages_of,
    open_case,
    raise_risk,
    release,
    remark_last_inbound,
    waiting_cases,
)
from hotline.storage.employee_repo import (
    Thread,
    employee_for_case,
    ensure_employee,
    forget_contact,
    is_known,
    load_thread,
    pseudonyms,
    record_contact,
    save_state,
)
from hotline.storage.offer_repo import (
    offered_to,
    offers_for,
    record_offer,
    record_offers,
    shown_in,
)
from hotline.storage.roster_repo import (
    counselor,
    on_duty,
    on_duty_ids,
    set_duty,
    supervisors,
    sync_roster,
)
from hotline.storage.store import (
    Store,
)
from hotline.storage.timer_repo import (
    add_timers,
    cancel_timers,
    claim_due_timers,
    finish_timer,
    finish_timers,
    had_timer,
    has_pending_kind,
    has_pending_timer,
    next_due_at,
    pending_timer,
    schedule,
    timers_of,
)

__all__ = [
    "Store",
    "Thread",
    "acknowledge_alerts",
    "add_message",
    "add_timers",
    "alerts_of",
    "all_cases",
    "cancel_timers",
    "case_by_code",
    "claim",
    "claim_due_timers",
    "close_case",
    "counselor",
    "employee_for_case",
    "ensure_employee",
    "escalate_alerts",
    "finish_timer",
    "finish_timers",
    "forget_contact",
    "had_timer",
    "has_pending_kind",
    "has_pending_timer",
    "is_known",
    "load_thread",
    "messages_of",
    "next_due_at",
    "offered_to",
    "offers_for",
    "on_duty",
    "on_duty_ids",
    "open_case",
    "pending_timer",
    "pseudonyms",
    "raise_risk",
    "record_alert",
    "record_contact",
    "record_offer",
    "record_offers",
    "release",
    "remark_last_inbound",
    "save_state",
    "schedule",
    "set_duty",
    "shown_in",
    "supervisors",
    "sync_roster",
    "timers_of",
    "waiting_cases",
]
