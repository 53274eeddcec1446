"""Thin aiohttp adapters: parse, authenticate, authorise, call a service, serialise."""
