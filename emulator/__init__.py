"""The instrumented multi-tenant quantum cloud emulator: virtual time, seeded, deterministic."""
