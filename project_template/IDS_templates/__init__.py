"""Client of the IDS TRUE Connector: read datasets offered at the edge, register experiments in the cloud."""
