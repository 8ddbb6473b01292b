// Package iam is Trent's minimal IAM: the users and roles of an account,
// their inline identity policies, access keys for the AWS-compatible
// endpoint, client certificates for the native API and their revocation
// (RevokeCert), and Explain, which asks an [Explainer] (the kms service)
// why a request would be allowed or denied. [Service] implements the generated IdentityService handler,
// one method per operation, independent of any transport; [NewHandler]
// mounts it on Connect.
//
// Every method follows the kms package's path: validate the request (a bad
// one is a ValidationError and changes nothing), authorize the caller,
// then read the replicated state ([Store]) or propose a command through the
// [Log]. Errors are *wire.Error values carrying the IAM error name
// (EntityAlreadyExists, NoSuchEntity, LimitExceeded, ValidationError,
// AccessDenied: wire's IAM names) and an IAM-shaped message, so the rpc
// package maps them like KMS errors. The package does not import kms:
// what the two share (errors, call info, the log's outcomes) is package
// wire's, and the Explainer answers with a policy.Explanation.
//
// # Authorization
//
// IAM operations are not governed by identity policies (those govern KMS
// calls, see package kms); the rule is fixed: the account root manages the
// users and roles of its account, their inline policies, access keys and
// certificates, the certificate deny list, and may ask Explain; every
// principal may create, list and delete its own access keys
// (CreateAccessKey, ListAccessKeys and DeleteAccessKey without UserName,
// as `aws iam create-access-key` does).
//
// # Access key secrets are derived, never stored
//
// The replicated state holds an access key's id, owner and status only.
// Its secret is computed on demand:
//
//	secret = base64(HMAC-SHA256(K, accessKeyID))[:40]
//	K      = the HSM's MAC subkey for label "trent/access-key/v1"
//
// where K is derived inside the HSM from the cluster domain key (see
// [MAC]). Every node's HSM holds the same domain key, so every node
// derives the same secret and can verify SigV4 signatures, while the raft
// log, snapshots and backups hold nothing from which a secret could be
// recovered. The secret has 40 characters of standard base64 alphabet,
// like an AWS secret access key, and carries 240 bits of the tag. Access
// key ids are random (16 characters of 36, about 82 bits) and Apply
// refuses a collision, so two live keys never share a secret.
//
// A consequence: rotating the domain key changes every secret at once. A
// domain-key rotation must therefore either keep the old key available
// for this label until access keys are re-issued, or be announced as
// invalidating all access keys. This is not handled yet.
//
// # Certificates
//
// IssueCertificate signs a client certificate for a user or role with the
// cluster CA. Given a certificate signing request, the private key never leaves
// the client and never crosses the wire; this is what `trent iam
// issue-cert` does. Without one, the server generates an ECDSA P-256 key
// and returns it in the response, protected only by the TLS connection:
// convenient for scripts, but the key then exists outside the client.
// The certificate carries the principal's unique id (see
// identity.Principal.ID) and its serial is recorded under the principal
// (ListCertificates) before it is returned. Deleting a user or role
// deletes its access keys and policies and puts every recorded serial on
// the replicated deny list, in the same command; and since a re-created
// principal gets a new id, its predecessor's certificates do not name it.
// RevokeCert puts one serial of the caller's account on the deny list
// (the cluster's admin account may revoke any serial). Every node checks
// both at authentication (fsm.FSM.CheckCert, in the server's gate).
package iam
