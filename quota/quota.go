// Package quota enforces request quotas the way AWS KMS does: a rate in
// requests per second for each quota, counted per calling account, and a
// call over it answered ThrottlingException (HTTP 400, which AWS SDKs
// retry with backoff), before it is authorized or runs.
//
// A quota is named either for one operation ("CreateGrant") or for a
// shared group: "cryptographic" is AWS's "Cryptographic operations
// (symmetric) request rate", shared by Decrypt, Encrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext, GenerateMac, GenerateRandom, ReEncrypt
// and VerifyMac; "asymmetric" is shared by Sign, Verify, DeriveSharedSecret and
// GenerateDataKeyPair(WithoutPlaintext) (AWS counts these per key type;
// Trent counts them together). An operation with a quota of its
// own is counted only there. Each quota is a token bucket holding one
// second of its rate (at least one request): a quiet account may burst to
// a second's worth, and sustains the rate.
//
// Quotas are enforced by each node on the calls it receives (a cluster of
// n nodes behind a load balancer admits up to n times the rate), because a
// quota that needed a round trip to agree on would cost more than the
// calls it limits. Calls with no account (cluster nodes) are not counted.
package quota

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits maps a quota's name (an operation or a group: see the package
// documentation) to its rate in requests per second.
type Limits map[string]float64

// Groups are the shared quotas and their operations.
var groups = map[string][]string{
	"cryptographic": {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
		"GenerateRandom", "ReEncrypt", "VerifyMac"},
	"asymmetric": {"Sign", "Verify", "DeriveSharedSecret", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"},
}

// AWS is the preset named "aws": AWS KMS's published default quotas
// (developer guide, "Request quotas"), the symmetric cryptographic rate at
// its smallest regional default.
func AWS() Limits {
	return Limits{
		"cryptographic": 5500, "asymmetric": 1000,
		"CreateGrant": 50, "RetireGrant": 30, "RevokeGrant": 30, "ListGrants": 100, "ListRetirableGrants": 100,
		"DescribeKey": 2000, "GetPublicKey": 2000, "ListResourceTags": 2000, "GetKeyPolicy": 1000,
		"GetKeyRotationStatus": 1000, "ListAliases": 500, "ListKeys": 500, "ListKeyPolicies": 100,
		"PutKeyPolicy": 15, "ScheduleKeyDeletion": 15, "EnableKeyRotation": 15, "DeleteAlias": 15,
		"TagResource": 10, "CreateKey": 5, "CreateAlias": 5, "UpdateAlias": 5, "EnableKey": 5, "DisableKey": 5,
		"DisableKeyRotation": 5, "CancelKeyDeletion": 5, "UpdateKeyDescription": 5, "UntagResource": 5,
		"ImportKeyMaterial": 5, "DeleteImportedKeyMaterial": 5, "GetParametersForImport": 0.25,
	}
}

// Parse reads a quota list, as the --request-quota flag and the config
// file give it: comma-separated NAME=RATE entries (RATE in requests per
// second, 0 or more; 0 refuses every call), or "aws" for [AWS]'s preset,
// which later entries override ("aws,CreateKey=50").
func Parse(s string) (Limits, error) {
	l := Limits{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "aws" {
			maps.Copy(l, AWS())
			continue
		}
		name, v, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("quota %q is not NAME=RATE (or the preset aws)", e)
		}
		rate, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
			return nil, fmt.Errorf("quota %s: rate %q is not a number of requests per second, 0 or more", name, v)
		}
		l[strings.TrimSpace(name)] = rate
	}
	return l, l.Validate()
}

// Validate checks that every name is an operation name (letters only,
// starting upper case) or a group.
func (l Limits) Validate() error {
	for name, rate := range l {
		if _, group := groups[name]; !group && !isOperationName(name) {
			return fmt.Errorf("quota %q is neither an operation name nor one of the groups %s", name, strings.Join(slices.Sorted(maps.Keys(groups)), ", "))
		}
		if rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
			return fmt.Errorf("quota %s: rate %v is not 0 or more", name, rate)
		}
	}
	return nil
}

func isOperationName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// String is the list in Parse's form, sorted.
func (l Limits) String() string {
	names := slices.Collect(maps.Keys(l))
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + strconv.FormatFloat(l[n], 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

// quotaOf returns the quota that counts op under l, or "" for none.
func (l Limits) quotaOf(op string) string {
	if _, ok := l[op]; ok {
		return op
	}
	for g, ops := range groups {
		if _, ok := l[g]; ok && slices.Contains(ops, op) {
			return g
		}
	}
	return ""
}

// Limiter counts calls against the quotas in force. It is safe for
// concurrent use; the zero value is not: use [New].
type Limiter struct {
	now func() time.Time
	// limits is read without the lock, so that calls under no quota (all
	// of them, by default) never wait for it.
	limits atomic.Pointer[Limits]

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
}

type bucketKey struct{ account, quota string }

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter enforcing l, reading time from now (nil:
// time.Now).
func New(l Limits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	q := &Limiter{now: now}
	q.Set(l)
	return q
}

// Set puts l in force (a configuration reload). Buckets of quotas whose
// rate did not change keep their state.
func (q *Limiter) Set(l Limits) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var old Limits
	if p := q.limits.Load(); p != nil {
		old = *p
	}
	l = maps.Clone(l)
	q.limits.Store(&l)
	kept := map[bucketKey]*bucket{}
	for k, b := range q.buckets {
		if r, ok := l[k.quota]; ok && old[k.quota] == r {
			kept[k] = b
		}
	}
	q.buckets = kept
}

// Limits returns the quotas in force.
func (q *Limiter) Limits() Limits {
	return maps.Clone(*q.limits.Load())
}

// Throttled is the refusal of a call over its quota.
type Throttled struct {
	// Quota is the quota's name, Rate its rate.
	Quota string
	Rate  float64
}

func (t *Throttled) Error() string {
	return fmt.Sprintf("You have exceeded the rate at which you may call KMS (quota %s: %s requests per second per account on this node). Reduce the frequency of your calls.",
		t.Quota, strconv.FormatFloat(t.Rate, 'f', -1, 64))
}

// Allow counts a call of op by account and returns nil if it is within
// its quota, or a *Throttled. Calls without an account, and operations
// under no quota, are always allowed.
func (q *Limiter) Allow(account, op string) error {
	if q == nil || account == "" {
		return nil
	}
	limits := *q.limits.Load()
	name := limits.quotaOf(op)
	if name == "" {
		return nil
	}
	rate := limits[name]
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	capacity := max(rate, 1)
	k := bucketKey{account, name}
	b := q.buckets[k]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		q.buckets[k] = b
	}
	if el := now.Sub(b.last); el > 0 { // a clock stepped back refills nothing
		b.tokens = min(capacity, b.tokens+el.Seconds()*rate)
		b.last = now
	}
	if rate == 0 || b.tokens < 1 {
		return &Throttled{Quota: name, Rate: rate}
	}
	b.tokens--
	return nil
}
