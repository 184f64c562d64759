"""Routine screening after the diagnostic case: the recall list of handed-off screening steps."""
