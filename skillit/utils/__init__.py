"""Small helpers with no skillit state: JSON, safe loading and paths, quiet output, shipped files."""
