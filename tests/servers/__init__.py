"""Test servers on loopback: a private Dovecot, an aiosmtpd collector, a cuttable TCP proxy."""
