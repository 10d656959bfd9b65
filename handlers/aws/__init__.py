"""What the AWS deployment adds to the composition root: its settings (from
the environment template.yaml and infra/ set), provider families and their
dispatch queues, the SQS ``DispatchTrigger``, the stack's SSM parameters,
Secrets Manager (the families' credentials), and the Lambda event shapes the
handlers read.

Nothing here creates a client at import time; boto3 is imported when the
first message is sent or the first secret read.
"""
