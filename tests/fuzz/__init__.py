"""Fuzz targets, run by hand outside CI (a bounded smoke run is in tests/unit)."""
