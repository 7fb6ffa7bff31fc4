"""rramsim.devmodel (see DESIGN.md)."""
