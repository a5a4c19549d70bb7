"""The web console of `qtenancy serve`: pages over the same services as the command line."""
