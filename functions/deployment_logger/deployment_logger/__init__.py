"""The regionflow deployment logger Lambda function.

Handler: ``deployment_logger.handler.lambda_handler``.

This package file deliberately imports nothing: the stack side imports
:mod:`deployment_logger.settings` (standard library only) to learn the environment variable
names, and that must not pull in Powertools or boto3.
"""
