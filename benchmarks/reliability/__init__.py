"""Reliability: the soak (kills, full disks, resumes) and the bad-input table."""
