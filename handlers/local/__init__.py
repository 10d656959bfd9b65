"""The local runtime: what Lambda, SQS and EventBridge do in the cloud, done by
threads in one process for ``pushpool server`` and ``pushpool demo``.

Nothing is imported here, so ``import handlers.local.loops`` loads no uvicorn.
"""
