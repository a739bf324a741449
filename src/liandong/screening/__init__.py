"""The screening domain: safety hazards, disputes, screening campaigns and early warning (早研判)."""
