"""Contingency plans (预案) as data that executes.

A plan is a YAML file (``library/``): its category and types, and per response level the conditions that call
for it, a checklist of timed tasks for units named relative to the incident, who else is told, and the
resources it relies on. ``document.py`` defines what a plan may say, ``loader.py`` reads files (every problem
named by file, line and field), ``library.py`` keeps each version in the ``plans`` table, ``selectors.py``
turns "the sub-centre of every affected town" into real units, ``activation.py`` activates and raises plans on
an incident (tasks and notices), and ``propose.py`` lists the plans an incident calls for.
"""
