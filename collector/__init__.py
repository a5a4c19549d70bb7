"""OTLP receiver, durable Parquet store and provenance correlator (see DESIGN.md)."""
