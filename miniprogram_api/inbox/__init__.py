"""/inbox: the in-app messages."""
