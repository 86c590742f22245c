"""Create MLflow's artifact bucket when it is missing; safe to run again (both runners run it)."""

import os
import sys

import boto3
from botocore.exceptions import ClientError


def main() -> int:
    bucket = os.environ["MLFLOW_ARTIFACT_BUCKET"]
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1")
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"bucket {bucket} already exists")
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket)
        print(f"bucket {bucket} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
