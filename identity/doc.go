// Package identity provides Trent's accounts, principals, ARNs, the cluster
// CA and certificates: who a caller is, and how the cluster proves it.
//
// # Principals and ARNs
//
// Callers are AWS-shaped IAM principals, identified by their ARN:
// arn:aws:iam::<account>:root, :user/<path/>name or :role/<path/>name.
// [ParsePrincipal] accepts exactly those, strictly and only in canonical
// form, so a principal's ARN can be compared as a string. KMS resources
// are named by [KeyARN] and [AliasARN] and parsed by [ParseKMSARN]. Every
// ARN parse error is an [*ARNError] matching [ErrInvalidARN], and says what
// is wrong.
//
// The authentication layer stores the caller in the request context with
// [NewContext]; everything below reads it with [FromContext].
//
// # The cluster CA
//
// A [CA] is a self-signed ECDSA P-256 root ([NewCA], [LoadCA]) that issues
// two kinds of leaf certificate, which never overlap:
//
//   - Node certificates ([CA.IssueNode]) carry the URI SAN
//     trent://node/<id>, DNS and IP SANs for the node's hosts, and the
//     ServerAuth and ClientAuth usages. [NodeIDFromCert] reads them.
//   - Client certificates ([CA.IssueClient], [CA.SignCSR]) carry exactly
//     one URI SAN, the principal ARN, and only the ClientAuth usage. A
//     user's or role's certificate also carries the principal's unique id
//     (AIDA..., AROA...) in a subject uid attribute, so that the
//     authentication layer can tell it from a certificate of an earlier
//     principal of the same name. [PrincipalFromCert] and
//     [PrincipalFromTLS] read them.
//
// A node certificate is never a principal, and a client certificate is
// never a node. Time and (where Go still honours it) randomness are
// parameters, so tests need no sleeps.
//
// A credential directory holds ca.pem, cert.pem and key.pem; see
// [WriteCredentials] and [LoadCredentials].
//
// # TLS
//
// [ServerTLSConfig] is the API listener, where a client certificate is
// optional because the AWS SigV4 endpoint shares it. [ClientTLSConfig] is
// for the CLI and native clients. [NodeTLSConfigs] is for node-to-node
// traffic and accepts node certificates only, checked in VerifyConnection
// during every handshake.
package identity
