package awsapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/awsapi"
)

// Every way a signature is refused, against a server whose clock is fixed.
func TestSigV4Rejections(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	srv := newServer(t, newService(t), awsapi.Options{Now: func() time.Time { return now }})
	const sigMismatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	signedAt := func(at time.Time) *http.Request {
		return srv.rawRequest(t, "TrentService.ListKeys", "{}", rootKeyID, rootSecret, at)
	}
	signed := func() *http.Request { return signedAt(now) }
	withAuth := func(f func(string) string) func() *http.Request {
		return func() *http.Request {
			r := signed()
			r.Header.Set("Authorization", f(r.Header.Get("Authorization")))
			return r
		}
	}
	tests := []struct {
		name    string
		req     func() *http.Request
		typ     string
		message string // exact, or a prefix when it ends in "..."
	}{
		{"wrong_secret", func() *http.Request {
			return srv.rawRequest(t, "TrentService.ListKeys", "{}", rootKeyID, "wrong", now)
		}, "InvalidSignatureException", sigMismatch},
		{"signature_flipped", withAuth(func(a string) string {
			i := strings.LastIndexByte(a, '=') + 1
			c := byte('0')
			if a[i] == '0' {
				c = '1'
			}
			return a[:i] + string(c) + a[i+1:]
		}), "InvalidSignatureException", sigMismatch},
		{"signature_not_hex", withAuth(func(a string) string { return a[:strings.LastIndexByte(a, '=')+1] + "zz" }),
			"InvalidSignatureException", sigMismatch},
		{"body_changed", func() *http.Request {
			r := signed()
			r.Body = http.NoBody
			r.ContentLength = 0
			return r
		}, "InvalidSignatureException", sigMismatch},
		{"target_changed", func() *http.Request {
			r := signed()
			r.Header.Set("X-Amz-Target", "TrentService.CreateKey")
			return r
		}, "InvalidSignatureException", sigMismatch},
		{"unknown_access_key", func() *http.Request {
			return srv.rawRequest(t, "TrentService.ListKeys", "{}", "AKIAUNKNOWN000000000", rootSecret, now)
		}, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"session_token", func() *http.Request {
			r := signed()
			r.Header.Set("X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLE")
			return r
		}, "UnrecognizedClientException", "The security token included in the request is invalid. Trent has no STS..."},
		{"expired", func() *http.Request { return signedAt(now.Add(-15*time.Minute - time.Second)) }, "InvalidSignatureException",
			"Signature expired: 20260314T145425Z is now earlier than 20260314T145426Z (20260314T150926Z - 15 min.)"},
		{"not_yet_current", func() *http.Request { return signedAt(now.Add(15*time.Minute + time.Second)) }, "InvalidSignatureException",
			"Signature not yet current: 20260314T152427Z is still later than 20260314T152426Z (20260314T150926Z + 15 min.)"},
		{"wrong_algorithm", withAuth(func(a string) string { return strings.Replace(a, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1) }),
			"IncompleteSignatureException", "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'..."},
		{"no_signature_param", withAuth(func(a string) string { return a[:strings.Index(a, ", Signature=")] }),
			"IncompleteSignatureException", "Authorization header requires 'Signature' parameter...."},
		{"no_credential_param", withAuth(func(a string) string { return "AWS4-HMAC-SHA256 " + a[strings.Index(a, "SignedHeaders="):] }),
			"IncompleteSignatureException", "Authorization header requires 'Credential' parameter...."},
		{"garbage_authorization", withAuth(func(string) string { return "Bearer abc" }),
			"IncompleteSignatureException", "Unsupported AWS 'algorithm': 'Bearer'..."},
		{"short_credential", withAuth(func(a string) string {
			return strings.Replace(a, "/us-east-1/kms/aws4_request", "/us-east-1/kms", 1)
		}), "IncompleteSignatureException", "Credential must have the form..."},
		{"wrong_region", func() *http.Request {
			r := signed()
			signRequest(t, r, []byte("{}"), rootKeyID, rootSecret, "eu-west-1", "kms", now)
			return r
		}, "InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'. This endpoint serves region 'us-east-1'."},
		{"wrong_service", func() *http.Request {
			r := signed()
			signRequest(t, r, []byte("{}"), rootKeyID, rootSecret, region, "sts", now)
			return r
		}, "InvalidSignatureException", "Credential should be scoped to correct service: 'kms', not 'sts'."},
		{"wrong_terminator", withAuth(func(a string) string { return strings.Replace(a, "/aws4_request", "/aws5_request", 1) }),
			"InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{"scope_date_mismatch", withAuth(func(a string) string { return strings.Replace(a, "/20260314/", "/20260313/", 1) }),
			"InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260313' != '20260314', from '20260314T150926Z'."},
		{"host_not_signed", withAuth(func(a string) string { return strings.Replace(a, "host;", "", 1) }),
			"InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization."},
		{"date_not_signed", withAuth(func(a string) string { return strings.Replace(a, ";x-amz-date", "", 1) }),
			"InvalidSignatureException", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."},
		{"target_not_signed", withAuth(func(a string) string { return strings.Replace(a, ";x-amz-target", "", 1) }),
			"InvalidSignatureException", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."},
		{"content_type_not_signed", withAuth(func(a string) string { return strings.Replace(a, "content-type;", "", 1) }),
			"InvalidSignatureException", "'Content-Type' must be a 'SignedHeader' in the AWS Authorization."},
		{"no_date", func() *http.Request {
			r := signed()
			r.Header.Del("X-Amz-Date")
			return r
		}, "IncompleteSignatureException", "Authorization header requires existence of a 'X-Amz-Date' header...."},
		{"bad_date", func() *http.Request {
			r := signed()
			r.Header.Set("X-Amz-Date", "2026-03-14T15:09:26Z")
			return r
		}, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'. Got '2026-03-14T15:09:26Z'..."},
		{"content_sha256_mismatch", func() *http.Request {
			r := signed()
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r
		}, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed."},
		{"unsigned_payload", func() *http.Request {
			r := signed()
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}, "InvalidSignatureException", "X-Amz-Content-Sha256 'UNSIGNED-PAYLOAD' is not accepted; sign the request body."},
		{"two_authorizations", func() *http.Request {
			r := signed()
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, "IncompleteSignatureException", "The request has more than one Authorization header."},
		{"presigned_query", func() *http.Request {
			r := signed()
			r.Header.Del("Authorization")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
			return r
		}, "IncompleteSignatureException", "Query-string (presigned) authentication is not supported..."},
		{"missing", func() *http.Request {
			r := signed()
			r.Header.Del("Authorization")
			return r
		}, "MissingAuthenticationTokenException", "Missing Authentication Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := srv.do(t, tt.req())
			msg := resp.wantError(t, 400, tt.typ)
			if prefix, ok := strings.CutSuffix(tt.message, "..."); ok {
				if !strings.HasPrefix(msg, prefix) {
					t.Errorf("message %q, want prefix %q", msg, prefix)
				}
			} else if msg != tt.message {
				t.Errorf("message %q, want %q", msg, tt.message)
			}
		})
	}
}

// The window is 15 minutes either way, inclusive.
func TestSigV4ClockSkewWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC)
	srv := newServer(t, newService(t), awsapi.Options{Now: func() time.Time { return now }})
	for _, d := range []time.Duration{-15 * time.Minute, -14 * time.Minute, 0, 14 * time.Minute, 15 * time.Minute} {
		// +14 minutes crosses midnight: the scope date is the signing day.
		resp := srv.do(t, srv.rawRequest(t, "TrentService.ListKeys", "{}", rootKeyID, rootSecret, now.Add(d)))
		if resp.status != 200 {
			t.Fatalf("signed %v from the server's clock: %d %s", d, resp.status, resp.body)
		}
		if got, want := resp.header.Get("Date"), now.Format(http.TimeFormat); got != want {
			t.Fatalf("Date %q, want the injected clock's %q", got, want)
		}
	}
}
