"""Intake channels that feed the one case pipeline: citizen web reports (more channels follow)."""
