"""The simulated district-year (issue 14): scenario files and, to come, the generator that drives them through the
services."""
