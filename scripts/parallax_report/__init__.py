"""Figures and a report page from a Parallax results file (the contract's HDF5 schema)."""
