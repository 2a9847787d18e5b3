"""Reaching the order API: the forwarder, its HTTP/1.1 pool and the connection."""
