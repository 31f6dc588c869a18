"""Drives a sluice server through boto3, as a Python producer and consumer would.

Reads the endpoint from SLUICE_ENDPOINT and the keys from the usual AWS
variables, and prints one JSON object: what came back, or the error.
"""
import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

endpoint = os.environ["SLUICE_ENDPOINT"]


def client(secret=None):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"],
    )


def main():
    k = client()
    k.create_stream(StreamName="py-orders", ShardCount=2)
    k.get_waiter("stream_exists").wait(StreamName="py-orders", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    sent = ["rec-%d" % i for i in range(20)]
    out = k.put_records(
        StreamName="py-orders",
        Records=[{"Data": s.encode(), "PartitionKey": "key-%d" % i} for i, s in enumerate(sent)],
    )
    got = []
    for shard in k.list_shards(StreamName="py-orders")["Shards"]:
        it = k.get_shard_iterator(
            StreamName="py-orders", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        got += [r["Data"].decode() for r in k.get_records(ShardIterator=it, Limit=100)["Records"]]
    refused = ""
    try:
        client("not-the-secret-0123456789").list_streams()
    except ClientError as e:
        refused = e.response["Error"]["Code"]
    print(json.dumps({"failed": out["FailedRecordCount"], "sent": sorted(sent), "got": sorted(got), "refused": refused}))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints what went wrong
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        sys.exit(1)
