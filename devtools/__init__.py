"""Developer tooling: run the application's parts locally the way AWS runs them (not deployed)."""
