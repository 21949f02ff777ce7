"""What every part stands on: the clock (tests move it), domain errors, photo storage,
random codes (case numbers, tracking codes, QR tokens), our WeChat HTTP client, and the
security headers of pages."""
