"""One package per infrastructure, plus the registry of pool types and their default templates."""
