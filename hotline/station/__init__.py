"""The e-mail station's service layer: received mail into cases (sink), answers out (outbox).

mailbox/ holds the adapters (parse, compose, IMAP, SMTP); flows/mailcase.py the rules; this package
carries out the rules' effects against storage, the outbox and the counselors' Telegram.
"""
