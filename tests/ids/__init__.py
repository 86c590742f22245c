"""Tests of the mock IDS TRUE Connector and of the template's IDS client."""
