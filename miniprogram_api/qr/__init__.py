"""The mini program's side of a village QR code."""
