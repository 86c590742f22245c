#!/bin/sh
# As the official image: any command that is not `minio` is an argument list for minio.
if [ "$1" != "minio" ] && [ -n "$1" ] && ! command -v "$1" >/dev/null 2>&1; then
  set -- minio "$@"
fi
exec "$@"
