"""Scheduled work: the beat schedule, backups, reports, pruning."""
