// Package cli implements the trent command: an AWS-CLI-shaped client of
// Trent's native Connect API (trent.kms.v1.KeyManagementService), the admin
// commands for IAM, authorization, the cluster and the audit trail, a load
// generator and a local development cluster. cmd/trent is a thin wrapper
// around [Main], and around server.Main for `trent server`, which runs a
// node.
//
// # Commands
//
//	trent [global options] kms <verb> [--flag value ...]     KMS operations
//	trent [global options] iam <verb> ...                    users, roles, policies, certificates, access keys
//	trent [global options] grants find-duplicates ...        grant maintenance across keys
//	trent [global options] authz explain ...                 which statements decide a request
//	trent [global options] cluster <verb> ...                join tokens, status, remove
//	trent [global options] audit verify|tail ...             check and read the audit trail
//	trent [global options] bench --op encrypt --concurrency N --duration D
//	trent dev cluster --nodes N                              a local cluster of processes
//	trent server [flags]                                     run a node (cmd/trent, not this package)
//
// trent help and trent <command> help list each command's verbs.
//
// Every kms verb is the kebab-case name of an AWS KMS operation
// (describe-key calls DescribeKey) and its flags are the kebab-case names of
// the AWS request members (--key-id sets KeyId). Output is the AWS CLI's:
// the response as 4-space indented JSON with PascalCase members, blobs in
// standard base64 and dates as epoch-second numbers, or with --output text
// the AWS CLI's tab-separated text. --query selects a member by a small
// JMESPath subset (KeyMetadata.Arn, Keys[0].KeyId, Keys[].KeyId).
//
// # Flag values
//
// Flags follow the AWS CLI conventions:
//
//   - strings: the value, or file://PATH for the file's contents;
//   - plaintext-like blobs (--plaintext, --message): raw text, file://PATH
//     (the file's bytes) or fileb://PATH (the file's bytes);
//   - other blobs (--ciphertext-blob, --signature, --mac): base64, or
//     fileb://PATH for raw bytes;
//   - booleans: --dry-run and --no-dry-run;
//   - lists: space-separated values, comma-separated values or a JSON list;
//   - maps (--encryption-context): k=v,k2=v2 or a JSON object;
//   - structures (--constraints, --tags): AWS shorthand such as
//     EncryptionContextSubset={customerID=3369} or TagKey=k,TagValue=v, or JSON.
//
// A value that starts with "--" must be given as --flag=value.
// fileb://- and file://- read standard input. --cli-binary-format base64
// makes --plaintext and --message base64 too, as in the AWS CLI v2.
//
// # Connection
//
// The client always speaks HTTP/2 over mutual TLS. The endpoint, CA and
// client certificate come from flags (--endpoint, --ca, --cert, --key), then
// the environment (TRENT_ENDPOINT, TRENT_CA, TRENT_CERT, TRENT_KEY), then the
// defaults 127.0.0.1:7700 and --data-dir (./trent-data) + /admin/{ca,cert,key}.pem.
//
// # Exit codes
//
// 0 on success; 1 when the service returns an error (printed as
// "An error occurred (NotFoundException) when calling the DescribeKey
// operation: ...") or the service cannot be reached; 2 for usage errors.
package cli
