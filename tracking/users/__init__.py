"""People and machines who use the system: users with roles, sessions, API tokens."""
