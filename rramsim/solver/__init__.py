"""rramsim.solver (see DESIGN.md)."""
