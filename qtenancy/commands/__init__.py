"""One module per command group. Each parses its options, calls a service and prints.

A command module imports at its top only what ``--help`` needs (typer, rich, the shared options); the
services are imported inside the command that runs them, so ``qtenancy --help`` and a read command never
load qiskit, the OpenTelemetry SDK or matplotlib unless they use them.
"""
