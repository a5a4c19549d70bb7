"""SLO specs, SLIs, budgets, burn rates and detectors over the jobs table (see DESIGN.md)."""
