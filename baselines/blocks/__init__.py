"""Network blocks shared by several baseline methods (each method package imports them)."""
