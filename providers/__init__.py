"""One module per infrastructure, plus the registry of pool types and their default templates."""
