package awsapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// Credentials looks up access keys. Implementations must be safe for
// concurrent use.
type Credentials interface {
	// Lookup returns the secret access key and the principal owning
	// accessKeyID, or ErrUnknownAccessKey.
	Lookup(ctx context.Context, accessKeyID string) (secret []byte, p identity.Principal, err error)
}

// ErrUnknownAccessKey is returned by [Credentials.Lookup] for an access key
// ID that does not exist; the caller gets UnrecognizedClientException.
var ErrUnknownAccessKey = errors.New("awsapi: unknown access key")

const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	sigService    = "kms"
	sigTerminator = "aws4_request"
	amzDateLayout = "20060102T150405Z"
	scopeLayout   = "20060102"
	// maxClockSkew is how far X-Amz-Date may be from the server's clock,
	// either way, as on AWS.
	maxClockSkew = 15 * time.Minute
	// maxCachedKeys bounds the signing-key cache; it is emptied when full.
	maxCachedKeys = 4096
)

// Message texts AWS sends for these failures.
const (
	msgMissingToken     = "Missing Authentication Token"
	msgUnrecognized     = "The security token included in the request is invalid."
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID string
	date        string // yyyymmdd of the credential scope
	region      string
	service     string
	terminator  string
	// signedHeaders is the SignedHeaders value exactly as sent; headers
	// holds its names.
	signedHeaders string
	headers       []string
	signature     string // hex, as sent
}

func (a *authorization) scope() string {
	return a.date + "/" + a.region + "/" + a.service + "/" + a.terminator
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=<h1;h2>, Signature=<hex>
func parseAuthorization(v string) (*authorization, *apiError) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if alg != sigAlgorithm {
		return nil, newError(wire.IncompleteSignature, "Unsupported AWS 'algorithm': '%s'; Trent accepts only %s (Signature Version 4).", alg, sigAlgorithm)
	}
	params := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			return nil, newError(wire.IncompleteSignature, "Authorization header parameter '%s' is not a key=value pair. Authorization=%s", p, v)
		}
		if _, dup := params[k]; dup {
			return nil, newError(wire.IncompleteSignature, "Authorization header has '%s' twice. Authorization=%s", k, v)
		}
		params[k] = val
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, newError(wire.IncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), v)
	}
	parts := strings.Split(params["Credential"], "/")
	if len(parts) != 5 || parts[0] == "" {
		return nil, newError(wire.IncompleteSignature,
			"Credential must have the form <AccessKeyId>/<yyyymmdd>/<region>/kms/aws4_request; got '%s'.", params["Credential"])
	}
	a := &authorization{
		accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3], terminator: parts[4],
		signedHeaders: params["SignedHeaders"],
		signature:     params["Signature"],
	}
	for h := range strings.SplitSeq(a.signedHeaders, ";") {
		a.headers = append(a.headers, strings.ToLower(strings.TrimSpace(h)))
	}
	return a, nil
}

// verifier checks SigV4 signatures. It is safe for concurrent use.
type verifier struct {
	creds  Credentials
	region string
	now    func() time.Time
	logger *slog.Logger

	mu   sync.Mutex // guards keys
	keys map[keyCacheID]cachedKey
}

type keyCacheID struct{ accessKeyID, date, region string }

type cachedKey struct{ secret, key []byte }

func newVerifier(creds Credentials, region string, now func() time.Time, logger *slog.Logger) *verifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &verifier{creds: creds, region: region, now: now, logger: logger, keys: map[keyCacheID]cachedKey{}}
}

// verify authenticates r, whose body has been read into body, and returns
// the principal that signed it.
func (v *verifier) verify(r *http.Request, body []byte) (identity.Principal, *apiError) {
	var none identity.Principal
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		if q := r.URL.Query(); q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
			return none, newError(wire.IncompleteSignature, "Query-string (presigned) authentication is not supported; sign the Authorization header.")
		}
		return none, newError(wire.MissingAuthenticationToken, msgMissingToken)
	}
	if len(authz) > 1 {
		return none, newError(wire.IncompleteSignature, "The request has more than one Authorization header.")
	}
	a, aerr := parseAuthorization(authz[0])
	if aerr != nil {
		return none, aerr
	}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		return none, newError(wire.UnrecognizedClient, "%s Trent has no STS and issues no session credentials: sign with a long-term access key and send no X-Amz-Security-Token.", msgUnrecognized)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return none, newError(wire.IncompleteSignature, "Authorization header requires existence of a 'X-Amz-Date' header. Authorization=%s", authz[0])
	}
	signedAt, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return none, newError(wire.IncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate)
	}
	if e := checkSignedHeaders(r, a.headers); e != nil {
		return none, e
	}
	if e := v.checkScope(a, amzDate); e != nil {
		return none, e
	}
	if e := checkSkew(signedAt, v.now()); e != nil {
		return none, e
	}

	secret, p, err := v.creds.Lookup(r.Context(), a.accessKeyID)
	switch {
	case errors.Is(err, ErrUnknownAccessKey):
		return none, newError(wire.UnrecognizedClient, msgUnrecognized)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return none, timeoutError()
	case err != nil:
		v.logger.ErrorContext(r.Context(), "access key lookup failed", "err", err)
		return none, internalError()
	case p.IsZero():
		v.logger.ErrorContext(r.Context(), "access key has no principal")
		return none, internalError()
	}

	payloadHash, e := payloadHash(r, body)
	if e != nil {
		return none, e
	}
	creq := canonicalRequest(r, a.headers, a.signedHeaders, payloadHash)
	sts := stringToSign(amzDate, a.scope(), creq)
	want := signature(v.signingKey(a.accessKeyID, secret, a.date), sts)
	got, err := hex.DecodeString(a.signature)
	if err != nil || !hmac.Equal(got, want) {
		v.logger.DebugContext(r.Context(), "signature mismatch", "access_key_id", a.accessKeyID,
			"canonical_request", creq, "string_to_sign", sts)
		return none, newError(wire.InvalidSignature, msgSignatureInvalid)
	}
	return p, nil
}

// checkSignedHeaders requires the signature to cover Host and X-Amz-Date,
// and X-Amz-Target and Content-Type, which choose the operation and how
// the body is read, whenever the request has them.
func checkSignedHeaders(r *http.Request, signed []string) *apiError {
	for _, h := range []string{"host", "x-amz-date", "x-amz-target", "content-type"} {
		if slices.Contains(signed, h) {
			continue
		}
		if h == "host" || h == "x-amz-date" || r.Header.Get(h) != "" {
			return newError(wire.InvalidSignature, "'%s' must be a 'SignedHeader' in the AWS Authorization.", http.CanonicalHeaderKey(h))
		}
	}
	return nil
}

func (v *verifier) checkScope(a *authorization, amzDate string) *apiError {
	switch {
	case a.date != amzDate[:len(scopeLayout)]:
		return newError(wire.InvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.date, amzDate[:len(scopeLayout)], amzDate)
	case a.region != v.region:
		return newError(wire.InvalidSignature, "Credential should be scoped to a valid region, not '%s'. This endpoint serves region '%s'.", a.region, v.region)
	case a.service != sigService:
		return newError(wire.InvalidSignature, "Credential should be scoped to correct service: '%s', not '%s'.", sigService, a.service)
	case a.terminator != sigTerminator:
		return newError(wire.InvalidSignature, "Credential should be scoped with a valid terminator: '%s', not '%s'.", sigTerminator, a.terminator)
	}
	return nil
}

// checkSkew enforces AWS's 15-minute window around the server's clock.
func checkSkew(signedAt, now time.Time) *apiError {
	now = now.UTC()
	switch {
	case signedAt.Before(now.Add(-maxClockSkew)):
		return newError(wire.InvalidSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			signedAt.Format(amzDateLayout), now.Add(-maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout))
	case signedAt.After(now.Add(maxClockSkew)):
		return newError(wire.InvalidSignature, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			signedAt.Format(amzDateLayout), now.Add(maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout))
	}
	return nil
}

// payloadHash returns the hex SHA-256 of the body for the canonical
// request. An X-Amz-Content-Sha256 header must match the body; unsigned
// payloads are refused.
func payloadHash(r *http.Request, body []byte) (string, *apiError) {
	sum := sha256.Sum256(body)
	computed := hex.EncodeToString(sum[:])
	sent := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case sent == "":
		return computed, nil
	case strings.HasPrefix(sent, "UNSIGNED-PAYLOAD") || strings.HasPrefix(sent, "STREAMING-"):
		return "", newError(wire.InvalidSignature, "X-Amz-Content-Sha256 '%s' is not accepted; sign the request body.", sent)
	case !strings.EqualFold(sent, computed):
		return "", newError(wire.InvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return sent, nil
}

// signingKey returns the derived key for accessKeyID on date, from the
// cache when the secret is unchanged.
func (v *verifier) signingKey(accessKeyID string, secret []byte, date string) []byte {
	id := keyCacheID{accessKeyID, date, v.region}
	v.mu.Lock()
	c, ok := v.keys[id]
	v.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(c.secret, secret) == 1 {
		return c.key
	}
	key := deriveSigningKey(secret, date, v.region, sigService)
	v.mu.Lock()
	if len(v.keys) >= maxCachedKeys {
		clear(v.keys)
	}
	v.keys[id] = cachedKey{secret: append([]byte(nil), secret...), key: key}
	v.mu.Unlock()
	return key
}

// canonicalRequest returns SigV4's canonical request for r.
//
//	<method>\n<canonical URI>\n<canonical query>\n<canonical headers>\n<signed headers>\n<payload hash>
func canonicalRequest(r *http.Request, headers []string, signedHeaders, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, h := range headers {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalURI URI-encodes each segment of the path as sent, so an escaped
// path is encoded twice, as SigV4 requires for services other than S3.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the query parameters by name, then value, each
// URI-encoded.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs [][2]string
	for kv := range strings.SplitSeq(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		pairs = append(pairs, [2]string{uriEncode(unescape(k), true), uriEncode(unescape(v), true)})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0])
		b.WriteByte('=')
		b.WriteString(p[1])
	}
	return b.String()
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalHeaderValue returns the values of header h (lower case), each
// trimmed with inner runs of spaces collapsed, joined by commas.
func canonicalHeaderValue(r *http.Request, h string) string {
	switch {
	case h == "host":
		return collapseSpaces(r.Host)
	case h == "content-length" && len(r.Header.Values(h)) == 0 && r.ContentLength >= 0:
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(h)
	if len(vals) == 1 {
		return collapseSpaces(vals[0])
	}
	out := make([]string, len(vals)) // never modify the request's header
	for i, v := range vals {
		out[i] = collapseSpaces(v)
	}
	return strings.Join(out, ",")
}

func collapseSpaces(s string) string {
	s = strings.Trim(s, " \t")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// uriEncode percent-encodes every byte except the unreserved characters
// A-Z a-z 0-9 - _ . ~ (and /, unless encodeSlash), with upper-case hex.
func uriEncode(s string, encodeSlash bool) string {
	const upperHex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0xf])
	}
	return b.String()
}

// stringToSign returns
//
//	AWS4-HMAC-SHA256\n<X-Amz-Date>\n<scope>\n<hex SHA-256 of the canonical request>
func stringToSign(amzDate, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// deriveSigningKey returns
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret []byte, date, region, service string) []byte {
	k := hmacSHA256(append([]byte("AWS4"), secret...), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, sigTerminator)
}

// signature returns HMAC-SHA256(key, stringToSign).
func signature(key []byte, stringToSign string) []byte {
	return hmacSHA256(key, stringToSign)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
