"""Integration tests: real QuickFIX sessions and aiohttp servers on loopback."""
