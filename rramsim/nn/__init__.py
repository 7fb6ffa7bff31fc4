"""rramsim.nn (see DESIGN.md)."""
