"""Who is asking and what is on record: sign-in and tokens, passwords, admin sessions,
the audit log, informants' sealed identity, two-person approvals, rate limits, and a
gunicorn access log that names no villager."""
