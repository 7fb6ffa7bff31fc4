"""rramsim.mapper (see DESIGN.md)."""
