"""hotline: the help line of a public-sector Employee Assistance Programme (Telegram and e-mail)."""

__version__ = "0.1.0"
