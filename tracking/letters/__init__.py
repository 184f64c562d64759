"""Letters as documents: templates a centre edits (config/letters), rendered to PDF, each one recorded."""
