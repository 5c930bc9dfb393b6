"""Full-reference and no-reference metrics under exactly named protocols."""
