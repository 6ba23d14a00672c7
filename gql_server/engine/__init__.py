"""How documents run: the executor's faster ways, variable coercion, limits, the cache."""
