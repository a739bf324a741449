"""Units: command centre, sub-centres, workstations, departments and their branches, teams.

Importing the package tells the areas who answers for a grid (``units/responsibility.py``): they cannot
import the units, which build on them.
"""

from liandong.units.responsibility import install

install()
