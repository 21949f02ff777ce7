"""Reference data the mini program needs to fill its forms."""
