"""A mock of the Engineering IDS TRUE Connector: the cloud data app and the edge provider."""

__version__ = "1.11.0-mock"
