"""Pure rules: functions over models and the clock's ``now``, with no store, provider or service."""
