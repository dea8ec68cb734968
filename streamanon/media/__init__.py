"""Decode and encode: PyAV sources and sinks, still images."""
