"""CSV imports: reading, validation, bulk upsert, the import task."""
