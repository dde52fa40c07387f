#!/usr/bin/env python3
"""Points a Ceph RGW bucket's events at an HTTP endpoint, the way a user does it with boto3:
a topic through RGW's SNS API (push-endpoint = the URL), then the bucket's notification
configuration (PutBucketNotificationConfiguration) for created and removed objects.

    rgw_notify.py ENDPOINT BUCKET TOPIC PUSH_URL       (keys: FERRY_RGW_ACCESS_KEY / _SECRET_KEY)

Prints the topic's ARN.
"""
import os
import sys

import boto3
from botocore.config import Config

endpoint, bucket, topic, push = sys.argv[1:5]
keys = dict(
    aws_access_key_id=os.environ["FERRY_RGW_ACCESS_KEY"],
    aws_secret_access_key=os.environ["FERRY_RGW_SECRET_KEY"],
)
sns = boto3.client("sns", endpoint_url=endpoint, region_name="default", **keys)
arn = sns.create_topic(Name=topic, Attributes={"push-endpoint": push})["TopicArn"]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="default",
    config=Config(s3={"addressing_style": "path"}),
    **keys,
)
s3.put_bucket_notification_configuration(
    Bucket=bucket,
    NotificationConfiguration={
        "TopicConfigurations": [
            {
                "Id": topic,
                "TopicArn": arn,
                "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
            }
        ]
    },
)
print(arn)
