"""What keeps people and records safe: passwords and the sign-in throttle, admin sessions,
the audit log, informants' sealed identity, two-person approvals (三员分立), rate limits,
idempotency keys, and a gunicorn access log that names no villager. (Signing in itself,
which needs WeChat and the outbox, is server/auth.py.)"""
