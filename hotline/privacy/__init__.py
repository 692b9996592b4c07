"""Privacy and security (issue 6): audit trail, key rotation, retention purge, rate limit, log redaction,
HTML sanitising for display, and the operator commands (``hotline keys rotate``, ``purge``, ``audit``).

Importing :mod:`hotline.privacy.audit` registers the ``audit_log`` table on ``Base.metadata``.
"""
