"""Reading data: fetch the raw dataset from IDS, a local path or S3."""
