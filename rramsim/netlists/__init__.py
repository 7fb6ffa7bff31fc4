"""rramsim.netlists (see DESIGN.md)."""
