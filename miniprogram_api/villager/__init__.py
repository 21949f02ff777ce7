"""The villagers' pages: the report form a village's QR code opens, and the tracking page.

Plain server-rendered HTML: small, no framework, working without JavaScript (a few lines
of it only make the form friendlier), readable on an old phone in WeChat's browser.
No cookie is set and nothing about the client is stored with a report.
"""
