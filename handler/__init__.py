"""Ingest Lambda package: pure core (``core``), thin AWS/HTTP adapters
(``adapters``), observability (``observability``) and entry points
(``app.lambda_handler``, ``rotation.lambda_handler``, ``python -m handler.verify``).

Importing this package has no side effects and does not import boto3.
"""
