"""Rules as data: a safe expression language, batch evaluation, findings and derived properties."""
