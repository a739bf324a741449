"""Components register (部件): the managed street furniture, each coded, placed in a grid, owned and maintained."""
