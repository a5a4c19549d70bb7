"""Facilities every room may use and that know nothing of the rooms: the audit trail, durable small files, YAML files."""
