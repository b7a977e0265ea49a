"""Small reusable widgets: meters, the transport bar, the master strip."""
