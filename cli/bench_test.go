package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBench(t *testing.T) {
	t.Parallel()
	for _, op := range benchOpNames() {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			code, stdout, stderr := fx.run(t, "bench", "--op", op, "--duration", "300ms", "--concurrency", "4", "--warmup", "100ms", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var s benchSummary
			if err := json.Unmarshal([]byte(stdout), &s); err != nil {
				t.Fatalf("summary does not parse: %v\n%s", err, stdout)
			}
			if s.Op != op || s.Concurrency != 4 || s.Ops == 0 || s.OpsPerSecond <= 0 || s.DurationSeconds <= 0 {
				t.Errorf("summary = %+v", s)
			}
			if l := s.LatencyMs; l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
				t.Errorf("latencies = %+v", l)
			}
			if s.Errors != 0 {
				t.Errorf("errors = %d: %v", s.Errors, s.ErrorSamples)
			}
			if !strings.Contains(stderr, "bench: created key "+key1) {
				t.Errorf("stderr = %q", stderr)
			}
		})
	}
}

func TestBenchText(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.run(t, "kms", "create-key")
	code, stdout, stderr := fx.run(t, "bench", "--key-id", key1, "--duration", "1100ms", "--concurrency", "2", "--warmup", "0s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"op           encrypt (key " + key1, "throughput", "p99.9"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "ops/s  errors=0") || strings.Contains(stderr, "created key") {
		t.Errorf("stderr should have a progress line and no key creation:\n%s", stderr)
	}
}

// --baseline null runs the same load against a null server that answers
// with the node's reply, over the same TLS (the client certificate is
// verified against the same CA), and reports the ratio.
func TestBenchBaselineNull(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"encrypt", "describe-key"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			code, stdout, stderr := fx.run(t, "bench", "--op", op, "--baseline", "null", "--duration", "300ms",
				"--concurrency", "4", "--warmup", "0s", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var b benchBaseline
			if err := json.Unmarshal([]byte(stdout), &b); err != nil {
				t.Fatalf("summary does not parse: %v\n%s", err, stdout)
			}
			if b.Trent == nil || b.Null == nil || b.Trent.Ops == 0 || b.Null.Ops == 0 {
				t.Fatalf("summary = %s", stdout)
			}
			if b.Null.Errors != 0 || b.Trent.Errors != 0 {
				t.Errorf("errors: trent %v, null %v", b.Trent.ErrorSamples, b.Null.ErrorSamples)
			}
			if want := b.Trent.OpsPerSecond / b.Null.OpsPerSecond; b.Ratio != want || !strings.Contains(b.Null.Endpoint, "null server") {
				t.Errorf("ratio %v, want %v; null endpoint %q", b.Ratio, want, b.Null.Endpoint)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t)
		code, stdout, stderr := fx.run(t, "bench", "--baseline", "null", "--duration", "200ms", "--concurrency", "2", "--warmup", "0s")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if strings.Count(stdout, "throughput   ") != 2 || !strings.Contains(stdout, "of the null server's throughput") {
			t.Errorf("stdout:\n%s", stdout)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		fx := newFixture(t)
		if code, _, stderr := fx.run(t, "bench", "--baseline", "nil"); code == 0 || !strings.Contains(stderr, "unknown --baseline") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
}

func TestBenchAllFail(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	code, stdout, stderr := fx.run(t, "bench", "--key-id", fakeKeyID(7), "--duration", "200ms", "--concurrency", "2", "--warmup", "0s")
	if code != exitError {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "NotFoundException") || !strings.Contains(stderr, "all ") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// BenchmarkEncryptCall measures one Encrypt through the CLI's client and an
// in-process server; allocations include the server's.
func BenchmarkEncryptCall(b *testing.B) {
	fx := newFixture(b)
	fx.run(b, "kms", "create-key")
	g, _, err := parseGlobals([]string{"--endpoint", fx.url, "--data-dir", fx.creds.dir})
	if err != nil {
		b.Fatal(err)
	}
	client, _, err := (&command{lookupEnv: func(string) (string, bool) { return "", false }}).dial(g)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		call := benchOps["encrypt"](client, key1, make([]byte, 32), nil)
		for pb.Next() {
			if _, err := call(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// --endpoints spreads the workers, and each extra node is made to see the
// new key first (read-your-writes at the key's index); the consistency
// options reach every call.
func TestBenchEndpointsAndConsistency(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	code, _, stderr := fx.run(t, "bench", "--endpoints", fx.url+","+fx.url, "--consistency", "linearizable",
		"--op", "describe-key", "--duration", "200ms", "--concurrency", "2", "--warmup", "0s", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if len(fx.minIndex) != 1 || fx.minIndex[0] != "42" {
		t.Fatalf("Trent-Min-Index sent %v, want once with the key's index 42", fx.minIndex)
	}
	if fx.lastSent.Get("Trent-Consistency") != "linearizable" {
		t.Fatalf("last call's headers %v", fx.lastSent)
	}
}

// --key-spec picks the key and algorithm of sign, verify and
// generate-mac, lands in the summary, and is refused with another op or
// a spec that cannot do the op.
func TestBenchKeySpec(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	code, stdout, stderr := fx.run(t, "bench", "--op", "verify", "--key-spec", "ML_DSA_65", "--duration", "200ms", "--concurrency", "2", "--warmup", "0s", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s benchSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || s.KeySpec != "ML_DSA_65" || s.Ops == 0 || s.Errors != 0 {
		t.Fatalf("summary = %+v, %v", s, err)
	}
	for _, args := range [][]string{
		{"--op", "encrypt", "--key-spec", "RSA_2048"},
		{"--op", "sign", "--key-spec", "HMAC_256"},
		{"--op", "generate-mac", "--key-spec", "ECC_NIST_P256"},
		{"--op", "sign", "--key-spec", "SM2"},
	} {
		code, _, stderr := fx.run(t, append([]string{"bench", "--duration", "100ms"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "--key-spec") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
