"""Users, roles, jurisdiction, passwords, tokens and the audit log."""
