"""The SQS-triggered gradient reducer."""
