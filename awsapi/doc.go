// Package awsapi serves the AWS KMS wire protocol, so that unmodified AWS
// SDKs and the AWS CLI work against Trent.
//
// [NewHandler] answers POST / in AWS JSON 1.1: the operation is named by
// the X-Amz-Target header (TrentService.<Operation>), the body is a JSON
// object whose members are the AWS member names, and blobs are base64.
// Requests are decoded with protojson into the native request messages,
// whose JSON names are the AWS member names; responses are encoded with
// the AWS rules (epoch-second timestamps as plain decimals, unset members
// omitted). The same [kmsv1connect.KeyManagementServiceHandler] the
// Connect endpoint serves does the work, so behaviour and authorization
// are identical on both endpoints.
//
// # Authentication
//
// Every request must be signed with AWS Signature Version 4 for service
// kms and the endpoint's region, within 15 minutes of the server's clock.
// Access keys are looked up through [Credentials]; the key's principal is
// the caller. Session credentials (X-Amz-Security-Token) are refused:
// Trent has no STS.
//
// # Errors
//
// Failures answer {"__type":"<Name>","message":"<text>"} (AccessDenied
// spells it Message, as AWS does) with the X-Amzn-Errortype header. Client
// errors are 400, KMSInternalException and KeyUnavailableException 500,
// DependencyTimeoutException 503, so SDKs retry exactly the server faults.
// Operations the service does not implement yet answer
// UnsupportedOperationException. Messages of unexpected errors and panics
// never reach the caller.
package awsapi
