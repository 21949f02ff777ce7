"""What every part stands on: the clock (tests move it), domain errors, photo storage,
security headers of pages, and idempotency keys."""
