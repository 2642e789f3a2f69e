"""An ordinary boto3 program: the default credential chain finds the mfad
endpoint through AWS_CONTAINER_CREDENTIALS_FULL_URI."""
import json
import os

import boto3

session = boto3.session.Session()
creds = session.get_credentials()
frozen = creds.get_frozen_credentials()
sts = session.client("sts", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_STS"))
ident = sts.get_caller_identity()
expiry = getattr(creds, "_expiry_time", None)
print(json.dumps({
    "Arn": ident["Arn"],
    "AccessKeyID": frozen.access_key,
    "Source": "python/" + creds.method,
    "Expires": expiry.isoformat().replace("+00:00", "Z") if expiry else None,
}))
