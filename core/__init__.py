"""pushpool's domain: models, states, ports, templates, pure rules (`rules`), use cases (`services`), stores."""
