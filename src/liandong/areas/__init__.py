"""Areas: the district → town → community → unit-grid tree, road and responsibility grids, layers."""
