"""Marshmallow schemas: request validation and response shapes, which also feed the OpenAPI document."""
