"""The job framework: job records, progress and events, the base task, cancel, queues."""
