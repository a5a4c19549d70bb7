"""The contract every room agrees on: telemetry names, table schemas, and the alerts both paths raise."""
