"""rramsim.solver: fast exact nodal analysis of crossbar tiles (see DESIGN.md, SOLVER-NOTES.md)."""
