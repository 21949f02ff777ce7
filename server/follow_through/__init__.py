"""Following every case through: the deadline sweep, delivering what the outbox holds
(WeChat, SMS, the in-app inbox), each person's to-do list, and the villages' screening
duty."""
