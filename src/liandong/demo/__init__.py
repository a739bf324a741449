"""Demo district data (Minhang, Shanghai): synthetic town and community polygons and their builder."""
