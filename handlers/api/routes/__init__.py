"""Route modules, one per object; each exposes a Powertools ``router``."""
