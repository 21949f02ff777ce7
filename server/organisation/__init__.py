"""The town as the system knows it: villages, grids, departments and people, the
categories with their routing and time limits, the working calendar, the QR codes, and
the changes the system admin makes to all of it."""
