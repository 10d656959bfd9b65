"""pushpool's pure domain: models, states, admission, templates, schedules, ports, services."""
