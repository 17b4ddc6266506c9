"""Library code of the order pipeline: everything the Chalice handlers call."""
