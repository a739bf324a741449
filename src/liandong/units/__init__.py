"""Units: command centre, sub-centres, workstations, departments and their branches, teams."""
