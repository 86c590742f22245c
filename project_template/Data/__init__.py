"""Reading data: fetch the raw file from IDS, a local path or S3, and keep immutable copies."""
