// An ordinary AWS SDK for JavaScript v3 program: the default credential
// chain finds the mfad endpoint through AWS_CONTAINER_CREDENTIALS_FULL_URI.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";

const credentials = fromNodeProviderChain();
const creds = await credentials();
const sts = new STSClient({ credentials, endpoint: process.env.AWS_ENDPOINT_URL_STS });
const id = await sts.send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify({ Arn: id.Arn, AccessKeyID: creds.accessKeyId, Source: "js", Expires: creds.expiration }));
