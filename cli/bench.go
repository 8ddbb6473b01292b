package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/loadgen"
	"github.com/trentkms/trent/wire"
)

const (
	maxBenchDuration    = 10 * time.Minute
	maxBenchConcurrency = 10000
)

const benchUsage = `usage: trent [global options] bench [options]

Runs --concurrency workers calling one operation for --duration (after
--warmup), printing progress to stderr every second and a summary to stdout.

Options:
  --op OP                 encrypt (default), decrypt, generate-data-key,
                          generate-data-key-without-plaintext, describe-key,
                          create-key, create-grant (writes), sign, verify,
                          generate-mac
  --key-spec SPEC         the key spec of sign and verify (default
                          ECC_NIST_P256; RSA keys sign with RSASSA_PSS_SHA_256)
                          and generate-mac (default HMAC_256); with --key-id,
                          that key's spec
  --endpoints A,B,...     spread the workers round-robin over these nodes
                          (default: the global --endpoint)
  --concurrency N         concurrent workers (default 16, at most 10000)
  --duration D            measured run time, e.g. 30s (default 10s, at most 10m)
  --warmup D              unmeasured time before the run (default 1s)
  --key-id KEY            key to use; a new key is created when absent
  --plaintext-size BYTES  plaintext size for encrypt and decrypt, message size
                          for sign, verify and generate-mac (default 32)
  --json                  print the summary as JSON
  --baseline null         then run the same load, client and TLS against a
                          null server in this process (a node's TLS, HTTP/2
                          and Connect stack answering a fixed reply) and
                          print both and the ratio trent/null

Global options: --endpoint, --data-dir, --ca, --cert, --key, and the read
consistency options --consistency, --max-staleness, --min-index (trent --help)
`

// benchOps makes, for one worker, the call of each --op; the call returns
// the response (the null baseline answers every call with the first one).
// The request is built once per worker and reused: the client only reads
// it.
var benchOps = map[string]func(c kmsClient, keyID string, plaintext, blob []byte) benchCall{
	"encrypt": func(c kmsClient, keyID string, plaintext, _ []byte) benchCall {
		req := &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: plaintext}
		return func(ctx context.Context) (proto.Message, error) { return c.Encrypt(ctx, req) }
	},
	"decrypt": func(c kmsClient, keyID string, _, blob []byte) benchCall {
		req := &kmsv1.DecryptRequest{KeyId: keyID, CiphertextBlob: blob}
		return func(ctx context.Context) (proto.Message, error) { return c.Decrypt(ctx, req) }
	},
	"generate-data-key": func(c kmsClient, keyID string, _, _ []byte) benchCall {
		req := &kmsv1.GenerateDataKeyRequest{KeyId: keyID, KeySpec: "AES_256"}
		return func(ctx context.Context) (proto.Message, error) { return c.GenerateDataKey(ctx, req) }
	},
	"generate-data-key-without-plaintext": func(c kmsClient, keyID string, _, _ []byte) benchCall {
		req := &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: keyID, KeySpec: "AES_256"}
		return func(ctx context.Context) (proto.Message, error) { return c.GenerateDataKeyWithoutPlaintext(ctx, req) }
	},
	"describe-key": func(c kmsClient, keyID string, _, _ []byte) benchCall {
		req := &kmsv1.DescribeKeyRequest{KeyId: keyID}
		return func(ctx context.Context) (proto.Message, error) { return c.DescribeKey(ctx, req) }
	},
	"create-key": func(c kmsClient, _ string, _, _ []byte) benchCall {
		req := &kmsv1.CreateKeyRequest{Description: "trent bench"}
		return func(ctx context.Context) (proto.Message, error) { return c.CreateKey(ctx, req) }
	},
	// Grants on one key count against its limit (50,000 by default).
	"create-grant": func(c kmsClient, keyID string, _, _ []byte) benchCall {
		req := &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:role/trent-bench",
			Operations: []string{"Encrypt", "Decrypt"}}
		return func(ctx context.Context) (proto.Message, error) { return c.CreateGrant(ctx, req) }
	},
}

// benchKeyOp is an --op that needs a key of another spec than
// SYMMETRIC_DEFAULT: its default spec, the key's usage, and the call of
// one worker, given the spec's algorithm, the message (--plaintext-size
// bytes) and, for verify, a signature of it.
type benchKeyOp struct {
	spec, usage string
	call        func(c kmsClient, keyID, alg string, msg, sig []byte) benchCall
}

var benchKeyOps = map[string]benchKeyOp{
	"sign": {"ECC_NIST_P256", "SIGN_VERIFY", func(c kmsClient, keyID, alg string, msg, _ []byte) benchCall {
		req := &kmsv1.SignRequest{KeyId: keyID, Message: msg, SigningAlgorithm: alg}
		return func(ctx context.Context) (proto.Message, error) { return c.Sign(ctx, req) }
	}},
	"verify": {"ECC_NIST_P256", "SIGN_VERIFY", func(c kmsClient, keyID, alg string, msg, sig []byte) benchCall {
		req := &kmsv1.VerifyRequest{KeyId: keyID, Message: msg, SigningAlgorithm: alg, Signature: sig}
		return func(ctx context.Context) (proto.Message, error) { return c.Verify(ctx, req) }
	}},
	"generate-mac": {"HMAC_256", "GENERATE_VERIFY_MAC", func(c kmsClient, keyID, alg string, msg, _ []byte) benchCall {
		req := &kmsv1.GenerateMacRequest{KeyId: keyID, Message: msg, MacAlgorithm: alg}
		return func(ctx context.Context) (proto.Message, error) { return c.GenerateMac(ctx, req) }
	}},
}

// benchAlgorithms is the algorithm bench uses with a key spec.
var benchAlgorithms = map[string]string{
	"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384", "ECC_NIST_P521": "ECDSA_SHA_512",
	"ECC_SECG_P256K1": "ECDSA_SHA_256", "ECC_NIST_EDWARDS25519": "ED25519_SHA_512",
	"RSA_2048": "RSASSA_PSS_SHA_256", "RSA_3072": "RSASSA_PSS_SHA_256", "RSA_4096": "RSASSA_PSS_SHA_256",
	"ML_DSA_44": "ML_DSA_SHAKE_256", "ML_DSA_65": "ML_DSA_SHAKE_256", "ML_DSA_87": "ML_DSA_SHAKE_256",
	"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256", "HMAC_384": "HMAC_SHA_384", "HMAC_512": "HMAC_SHA_512",
}

// benchCall is one worker's call of the --op.
type benchCall func(context.Context) (proto.Message, error)

// run adapts the call to loadgen.
func (b benchCall) run(ctx context.Context) error { _, err := b(ctx); return err }

// benchConfig is the parsed bench command line.
type benchConfig struct {
	op            string
	concurrency   int
	duration      time.Duration
	warmup        time.Duration
	keyID         string
	keySpec       string
	plaintextSize int
	json          bool
	endpoints     []string
	baseline      string // "" or "null"
}

func parseBenchArgs(args []string) (*benchConfig, error) {
	cfg := &benchConfig{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.op, "op", "encrypt", "")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "")
	fs.StringVar(&cfg.keyID, "key-id", "", "")
	fs.StringVar(&cfg.keySpec, "key-spec", "", "")
	fs.IntVar(&cfg.plaintextSize, "plaintext-size", 32, "")
	fs.BoolVar(&cfg.json, "json", false, "")
	fs.StringVar(&cfg.baseline, "baseline", "", "")
	fs.Func("endpoints", "", func(v string) error {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				if _, _, err := parseEndpoint(e); err != nil {
					return err
				}
				cfg.endpoints = append(cfg.endpoints, e)
			}
		}
		return nil
	})
	usage := func(msg string) error { return &usageError{msg: "bench: " + msg, help: benchUsage} }
	if err := fs.Parse(args); err != nil {
		return nil, usage(err.Error())
	}
	switch {
	case fs.NArg() > 0:
		return nil, usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case benchOps[cfg.op] == nil && benchKeyOps[cfg.op].call == nil:
		return nil, usage(fmt.Sprintf("unknown --op %q (valid: %s)", cfg.op, strings.Join(benchOpNames(), ", ")))
	case cfg.concurrency < 1 || cfg.concurrency > maxBenchConcurrency:
		return nil, usage(fmt.Sprintf("--concurrency must be in [1, %d]", maxBenchConcurrency))
	case cfg.duration <= 0 || cfg.duration > maxBenchDuration:
		return nil, usage(fmt.Sprintf("--duration must be in (0, %v]", maxBenchDuration))
	case cfg.warmup < 0 || cfg.warmup > maxBenchDuration:
		return nil, usage(fmt.Sprintf("--warmup must be in [0, %v]", maxBenchDuration))
	case cfg.plaintextSize < 1 || cfg.plaintextSize > 4096:
		return nil, usage("--plaintext-size must be in [1, 4096]")
	case cfg.baseline != "" && cfg.baseline != "null":
		return nil, usage(fmt.Sprintf("unknown --baseline %q (valid: null)", cfg.baseline))
	}
	if ko, ok := benchKeyOps[cfg.op]; ok {
		if cfg.keySpec == "" {
			cfg.keySpec = ko.spec
		}
		if alg := benchAlgorithms[cfg.keySpec]; alg == "" || strings.HasPrefix(alg, "HMAC") != (ko.usage == "GENERATE_VERIFY_MAC") {
			return nil, usage(fmt.Sprintf("--key-spec %s cannot %s", cfg.keySpec, cfg.op))
		}
	} else if cfg.keySpec != "" {
		return nil, usage("--key-spec is for sign, verify and generate-mac")
	}
	return cfg, nil
}

func benchOpNames() []string {
	var names []string
	for n := range benchOps {
		names = append(names, n)
	}
	for n := range benchKeyOps {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// bench runs `trent bench`.
func (c *command) bench(ctx context.Context, g *globals, args []string) error {
	if g.help {
		fmt.Fprint(c.stdout, benchUsage)
		return nil
	}
	cfg, err := parseBenchArgs(args)
	if err != nil {
		return err
	}
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return err
	}
	endpoints := cfg.endpoints
	if len(endpoints) == 0 {
		endpoints = []string{t.baseURL}
	}
	clients := make([]kmsClient, len(endpoints))
	metas := make([]*metaClient, len(endpoints))
	for i, e := range endpoints {
		te := *t
		if te.baseURL, te.serverName, err = parseEndpoint(e); err != nil {
			return err
		}
		hc, err := te.httpClient(g.connectTimeout)
		if err != nil {
			return err
		}
		// Requests and responses are small: don't spend CPU on gzip.
		metas[i] = &metaClient{next: hc, send: g.readHeaders}
		clients[i] = kmsv1connect.NewKeyManagementServiceClient(metas[i], te.baseURL, connect.WithAcceptCompression("gzip", nil, nil))
	}
	client := clients[0]
	plaintext := make([]byte, cfg.plaintextSize)
	rand.Read(plaintext)
	var blob []byte
	setupCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if cfg.keyID == "" {
		req := &kmsv1.CreateKeyRequest{Description: "trent bench"}
		if ko, ok := benchKeyOps[cfg.op]; ok {
			req.KeySpec, req.KeyUsage = cfg.keySpec, ko.usage
		}
		resp, err := client.CreateKey(setupCtx, req)
		if err != nil {
			return &callError{op: "CreateKey", endpoint: endpoints[0], err: err}
		}
		cfg.keyID = resp.GetKeyMetadata().GetKeyId()
		fmt.Fprintf(c.stderr, "bench: created key %s\n", cfg.keyID)
		// Every node must see the new key before the run: read the write
		// at its index on each (Trent-Min-Index).
		minIndex := http.Header{wire.MinIndexHeader: []string{metas[0].got.Get(wire.AppliedIndexHeader)}}
		for i := 1; i < len(clients); i++ {
			base, _, _ := parseEndpoint(endpoints[i])
			rc := kmsv1connect.NewKeyManagementServiceClient(&metaClient{next: metas[i].next, send: minIndex}, base)
			if _, err := rc.DescribeKey(setupCtx, &kmsv1.DescribeKeyRequest{KeyId: cfg.keyID}); err != nil {
				return &callError{op: "DescribeKey", endpoint: endpoints[i], err: err}
			}
		}
	}
	if cfg.op == "decrypt" {
		resp, err := client.Encrypt(setupCtx, &kmsv1.EncryptRequest{KeyId: cfg.keyID, Plaintext: plaintext})
		if err != nil {
			return &callError{op: "Encrypt", endpoint: endpoints[0], err: err}
		}
		blob = resp.GetCiphertextBlob()
	}

	alg := benchAlgorithms[cfg.keySpec]
	if cfg.op == "verify" {
		resp, err := client.Sign(setupCtx, &kmsv1.SignRequest{KeyId: cfg.keyID, Message: plaintext, SigningAlgorithm: alg})
		if err != nil {
			return &callError{op: "Sign", endpoint: endpoints[0], err: err}
		}
		blob = resp.GetSignature()
	}

	call := func(c kmsClient) benchCall {
		if ko, ok := benchKeyOps[cfg.op]; ok {
			return ko.call(c, cfg.keyID, alg, plaintext, blob)
		}
		return benchOps[cfg.op](c, cfg.keyID, plaintext, blob)
	}
	makeCalls := func(clients []kmsClient) []func(context.Context) error {
		calls := make([]func(context.Context) error, cfg.concurrency)
		for i := range calls {
			calls[i] = call(clients[i%len(clients)]).run
		}
		return calls
	}
	var reply proto.Message
	if cfg.baseline == "null" {
		// The null server answers with the node's own reply.
		if reply, err = call(client)(setupCtx); err != nil {
			return &callError{op: cfg.op, endpoint: endpoints[0], err: err}
		}
	}
	for _, m := range metas {
		m.noRecord = true // the workers share it
	}
	lcfg := loadgen.Config{Warmup: cfg.warmup, Duration: cfg.duration, Classify: benchErrorType}
	// CPU per call: the node's too when there is one node to ask.
	var node func() (float64, bool)
	if len(endpoints) == 1 {
		node = func() (float64, bool) { return nodeCPU(ctx, metas[0].next, t.baseURL) }
	}
	stats, cpu := runMeasured(ctx, lcfg, makeCalls(clients), c.stderr, node)
	s := cfg.summary(strings.Join(endpoints, ","), stats)
	s.CPUMicrosPerOp = cpu
	var ns *benchSummary
	if cfg.baseline == "null" {
		null, err := startNullServer(t.ca, reply)
		if err != nil {
			return fmt.Errorf("bench: null server: %w", err)
		}
		nt := *t
		nt.baseURL, nt.serverName, nt.rootCAs = null.url, "127.0.0.1", null.pool
		hc, err := nt.httpClient(g.connectTimeout)
		if err != nil {
			null.close()
			return err
		}
		nc := kmsv1connect.NewKeyManagementServiceClient(&metaClient{next: hc, send: g.readHeaders, noRecord: true}, nt.baseURL,
			connect.WithAcceptCompression("gzip", nil, nil))
		fmt.Fprintf(c.stderr, "bench: the same load against a null server at %s\n", null.url)
		nstats, ncpu := runMeasured(ctx, lcfg, makeCalls([]kmsClient{nc}), c.stderr, nil)
		if err := null.close(); err != nil {
			return fmt.Errorf("bench: null server: %w", err)
		}
		ns = cfg.summary(null.url+" (null server)", nstats)
		ns.CPUMicrosPerOp = ncpu
	}
	if err := writeBench(c.stdout, cfg.json, s, ns); err != nil {
		return err
	}
	if s.Ops == 0 && s.Errors > 0 {
		return fmt.Errorf("bench: all %d calls failed", s.Errors)
	}
	return nil
}

// runMeasured runs the load and returns its stats and the CPU time per
// measured call of this process and, if node is set, of the node (0 when
// it cannot tell).
func runMeasured(ctx context.Context, cfg loadgen.Config, calls []func(context.Context) error, progress io.Writer,
	node func() (float64, bool)) (*loadgen.Stats, float64) {
	var mu sync.Mutex
	var m *cpuMeter
	cfg.Measuring = func() {
		mu.Lock()
		defer mu.Unlock()
		m = startCPU(node)
	}
	stats := loadgen.Run(ctx, cfg, calls, progress)
	mu.Lock()
	defer mu.Unlock()
	if m == nil {
		return stats, 0
	}
	return stats, m.perOp(stats.Ops)
}

// summary labels a run's stats.
func (cfg *benchConfig) summary(endpoint string, stats *loadgen.Stats) *benchSummary {
	s := &benchSummary{Op: cfg.op, Endpoint: endpoint, KeyID: cfg.keyID, Concurrency: cfg.concurrency, Stats: *stats}
	if cfg.op == "encrypt" || cfg.op == "decrypt" {
		s.PlaintextSize = cfg.plaintextSize
	}
	s.KeySpec = cfg.keySpec
	return s
}

// benchBaseline is the --json summary of a run with --baseline null.
type benchBaseline struct {
	Trent *benchSummary `json:"trent"`
	Null  *benchSummary `json:"null"`
	// Ratio is Trent's throughput over the null server's; P99Ratio the
	// same of their p99 latencies. CPURatio is the null server's CPU per
	// call over Trent's (client and server together): the throughput
	// ratio that CPU alone predicts on a CPU-bound machine, much less
	// disturbed by other load than Ratio; 0 if unknown.
	Ratio    float64 `json:"ratio"`
	P99Ratio float64 `json:"p99_ratio"`
	CPURatio float64 `json:"cpu_ratio,omitempty"`
}

// writeBench prints the summary of the run against Trent and, if there
// was one, of the run against the null server and their ratio.
func writeBench(w io.Writer, asJSON bool, s, null *benchSummary) error {
	var v any = s
	var b *benchBaseline
	if null != nil {
		b = &benchBaseline{Trent: s, Null: null}
		if null.OpsPerSecond > 0 {
			b.Ratio = s.OpsPerSecond / null.OpsPerSecond
		}
		if null.LatencyMs.P99 > 0 {
			b.P99Ratio = s.LatencyMs.P99 / null.LatencyMs.P99
		}
		if s.CPUMicrosPerOp > 0 && null.CPUMicrosPerOp > 0 {
			b.CPURatio = null.CPUMicrosPerOp / s.CPUMicrosPerOp
		}
		v = b
	}
	if asJSON {
		out, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", out)
		return err
	}
	s.writeText(w)
	if b != nil {
		fmt.Fprintln(w)
		null.writeText(w)
		fmt.Fprintf(w, "\nratio        %.2f of the null server's throughput (p99 %.2fx)\n", b.Ratio, b.P99Ratio)
		if b.CPURatio > 0 {
			fmt.Fprintf(w, "cpu ratio    %.2f (null server's CPU per call over Trent's, clients included)\n", b.CPURatio)
		}
	}
	return nil
}

// benchErrorType names a failed call's error for the summary: its AWS
// error type when the server answered, else "connection" with the Connect
// code if there is one.
func benchErrorType(err error) (string, bool) {
	if typ, ok := errorType(err); ok {
		return typ, true
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return "connection:" + ce.Code().String(), false
	}
	return "connection", false
}

// benchSummary is the result of a run, as printed by --json.
type benchSummary struct {
	Op            string `json:"op"`
	Endpoint      string `json:"endpoint"`
	KeyID         string `json:"key_id"`
	Concurrency   int    `json:"concurrency"`
	PlaintextSize int    `json:"plaintext_size,omitempty"`
	KeySpec       string `json:"key_spec,omitempty"`
	// CPUMicrosPerOp is the CPU time per measured call of the bench and,
	// when it could read it (one endpoint, admin credential), the node.
	CPUMicrosPerOp float64 `json:"cpu_us_per_op,omitempty"`
	loadgen.Stats
}

func (s *benchSummary) writeText(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "op           %s (key %s, %s)\n", s.Op, s.KeyID, s.Endpoint)
	fmt.Fprintf(bw, "concurrency  %d\n", s.Concurrency)
	fmt.Fprintf(bw, "duration     %.2fs\n", s.DurationSeconds)
	fmt.Fprintf(bw, "ops          %d\n", s.Ops)
	fmt.Fprintf(bw, "errors       %d\n", s.Errors)
	fmt.Fprintf(bw, "throughput   %.1f ops/s\n", s.OpsPerSecond)
	l := s.LatencyMs
	if s.CPUMicrosPerOp > 0 {
		fmt.Fprintf(bw, "cpu          %.0f µs/op (client and server)\n", s.CPUMicrosPerOp)
	}
	fmt.Fprintf(bw, "latency ms   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	types := make([]string, 0, len(s.ErrorTypes))
	for t := range s.ErrorTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		fmt.Fprintf(bw, "error        %s x%d: %s\n", t, s.ErrorTypes[t], s.ErrorSamples[t])
	}
}
