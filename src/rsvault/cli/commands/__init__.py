"""One module per command group, named like `az backup`'s groups."""
