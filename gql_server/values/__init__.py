"""Small pure values: ids, text bounds, instants, cursors, webhook targets."""
