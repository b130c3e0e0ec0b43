"""Exact text, layout and logo drawn over any generator's output."""
