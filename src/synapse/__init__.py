"""SYNAPSE background processing: jobs on Celery with live progress."""

__version__ = "0.1.0"
