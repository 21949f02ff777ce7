"""What the town counts: the figures of a period, the ledgers (台账), and the spreadsheet
cells they are written with."""
