"""Following every case through: the deadline sweep, notifications (the outbox, WeChat,
the in-app inbox), each person's to-do list, and the villages' screening duty."""
