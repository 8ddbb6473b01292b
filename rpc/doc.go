// Package rpc serves the kms service over Connect RPC: Connect, gRPC and
// gRPC-Web on one HTTPS listener.
//
// It owns the transport edge and nothing else: [Authenticate] turns the
// verified client certificate into the caller's principal; [NewHandler]
// mounts the service with an interceptor that maps every service error to a
// Connect code in one table ([Code]), attaches the AWS error name as the
// Trent-Error-Type header and an ErrorInfo detail, and reports call metadata
// (Trent-Served-By, Trent-Applied-Index) in response headers. Operations the
// service does not implement yet answer Unimplemented with a message naming
// them.
package rpc
