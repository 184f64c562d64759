"""A navigator's own work on a case: notes and tasks, outside the pathway's clinical steps."""
