"""Clients for the providers that do the work of jobs, with no Flask in them."""
