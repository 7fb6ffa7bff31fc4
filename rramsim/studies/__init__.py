"""rramsim.studies (see DESIGN.md)."""
