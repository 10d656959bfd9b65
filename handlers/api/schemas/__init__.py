"""Request and response bodies, shaped like Prefect's REST API.

Field names, nesting and status codes follow Prefect's server so that a
script written against Prefect's work-pool endpoints works unchanged; a few
fields Prefect clients send that pushpool has no use for are accepted and
ignored (said so in their descriptions).
"""
