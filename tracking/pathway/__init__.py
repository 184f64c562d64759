"""The workup pathway: definitions loaded from YAML and the pure decision engine."""
