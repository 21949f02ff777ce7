"""Reports and cases: file a report, list and read cases, act on them."""
