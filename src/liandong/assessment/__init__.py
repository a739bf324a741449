"""Assessment (考核): indicators from the stage facts and the event log, scores and grades, drill-down, reports."""
