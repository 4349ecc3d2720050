"""RQ jobs (thin wrappers around domain functions), the schedule and the run log."""
