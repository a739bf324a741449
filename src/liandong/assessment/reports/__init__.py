"""Reports as a neutral document (tables, charts, notes) and its writers: XLSX, PDF and CSV."""
