package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/wire"
)

// Exit codes of [Main].
const (
	exitOK    = 0
	exitError = 1 // the service returned an error or could not be reached
	exitUsage = 2 // bad command line
)

const (
	defaultEndpoint = "127.0.0.1:7700"
	defaultPort     = "7700"
	defaultDataDir  = "./trent-data"
)

// Main runs the trent command with args (the command line without the
// program name) and returns the process exit code: 0 on success, 1 when the
// service returns an error or cannot be reached, 2 for usage errors.
// Cancelling ctx aborts the running call or benchmark.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &command{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	return c.run(ctx, args)
}

// command is one invocation of trent: its I/O and environment.
type command struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

// usageError is a bad command line; it exits 2. help, when set, is printed
// after the message.
type usageError struct {
	msg  string
	help string
}

func (e *usageError) Error() string { return e.msg }

// callError is an RPC that failed; it exits 1.
type callError struct {
	op       string // AWS operation name, e.g. DescribeKey
	endpoint string
	err      error
}

func (e *callError) Error() string { return e.err.Error() }

func (c *command) run(ctx context.Context, args []string) int {
	err := c.dispatch(ctx, args)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *callError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "trent: %s\n", ue.msg)
		if ue.help != "" {
			fmt.Fprint(c.stderr, ue.help)
		}
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintln(c.stderr, describeCallError(ce))
		return exitError
	default:
		fmt.Fprintf(c.stderr, "trent: %v\n", err)
		return exitError
	}
}

func (c *command) dispatch(ctx context.Context, args []string) error {
	g, rest, err := parseGlobals(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		if g.help {
			fmt.Fprint(c.stdout, mainUsage)
			return nil
		}
		return &usageError{msg: "missing command", help: mainUsage}
	}
	switch rest[0] {
	case "kms":
		return c.kms(ctx, g, rest[1:])
	case "bench":
		return c.bench(ctx, g, rest[1:])
	case "iam":
		return c.iam(ctx, g, rest[1:])
	case "grants":
		return c.grants(ctx, g, rest[1:])
	case "authz":
		return c.authz(ctx, g, rest[1:])
	case "cluster":
		return c.cluster(ctx, g, rest[1:])
	case "dev":
		return c.dev(ctx, g, rest[1:])
	case "audit":
		return c.audit(ctx, g, rest[1:])
	case "snapshot":
		return c.snapshot(ctx, g, rest[1:])
	case "node":
		return c.node(ctx, g, rest[1:])
	case "server":
		// cmd/trent runs `trent server [flags]` before the client's
		// command line is parsed: here it came after global options.
		return &usageError{msg: "server takes no global options: run trent server [flags] (trent server --help lists them)"}
	case "help":
		fmt.Fprint(c.stdout, mainUsage)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q (valid: server, kms, iam, authz, grants, bench, cluster, dev, audit, snapshot, node, help)", rest[0]), help: mainUsage}
}

const mainUsage = `usage: trent [global options] <command> [arguments]

Commands:
  server [flags]         run a node (trent server --help lists its flags)
  kms <verb> [options]   call a KMS operation, AWS CLI style (trent kms help)
  iam <verb> [options]   manage users, roles, policies, access keys and certificates (trent iam help)
  authz explain [...]    explain an authorization decision (trent authz help)
  grants <verb>          find and retire duplicate grants (trent grants help)
  bench [options]        load-test an operation (trent bench --help)
  cluster <verb>         join tokens and cluster status (trent cluster help)
  dev cluster [options]  run a local multi-process cluster (trent dev cluster --help)
  audit verify|tail      check or print a node's local audit log (trent audit help)
  snapshot save|inspect|restore FILE  back up and restore the cluster (trent snapshot help)
  node unseal            unseal a node started with --sealed-start (trent node help)
  help                   print this text

Global options (accepted anywhere on the command line):
  --endpoint HOST:PORT      server address, host:port or https://host:port
                            (env TRENT_ENDPOINT, default 127.0.0.1:7700)
  --data-dir DIR            node data directory; credentials default to
                            DIR/admin/{ca,cert,key}.pem (default ./trent-data)
  --ca FILE                 cluster CA certificate (env TRENT_CA)
  --cert FILE               client certificate (env TRENT_CERT)
  --key FILE                client private key (env TRENT_KEY)
  --output json|text        output format (default json)
  --query PATH              print only this member, e.g. CiphertextBlob or
                            KeyMetadata.Arn
  --cli-binary-format FMT   raw-in-base64-out (default): --plaintext and
                            --message are raw text; base64: they are base64
                            like every other blob
  --cli-read-timeout SECS   per-call timeout, 0 for none (default 60)
  --cli-connect-timeout SECS  connection timeout, 0 for none (default 60)
  --consistency MODE        bounded (default) or linearizable reads
  --max-staleness DUR       tighten the node's staleness bound, e.g. 250ms
  --min-index N             read your writes: serve only once the node has
                            applied raft index N (a write's applied index)
  --show-consistency        print how the call was served (node, mode,
                            applied index, staleness bound) to stderr
  --no-cli-pager, --no-paginate  accepted and ignored, for AWS CLI scripts
  --help                    print usage
`

// globals are the options accepted anywhere on the command line.
type globals struct {
	endpoint, dataDir, ca, cert, key string
	output                           string // "json" or "text"
	query                            string
	binaryFormat                     string // "raw-in-base64-out" or "base64"
	readTimeout, connectTimeout      time.Duration
	help                             bool
	// Read consistency (docs/consistency.md): request headers to send, and
	// whether to print the response's consistency metadata to stderr.
	readHeaders     http.Header
	showConsistency bool
}

// globalFlags maps each global option to its setter.
var globalFlags = map[string]func(g *globals, v string) error{
	"endpoint": func(g *globals, v string) error { g.endpoint = v; return nil },
	"data-dir": func(g *globals, v string) error { g.dataDir = v; return nil },
	"ca":       func(g *globals, v string) error { g.ca = v; return nil },
	"cert":     func(g *globals, v string) error { g.cert = v; return nil },
	"key":      func(g *globals, v string) error { g.key = v; return nil },
	"output": func(g *globals, v string) error {
		if v != "json" && v != "text" {
			return fmt.Errorf("argument --output: invalid choice %q (choose from json, text)", v)
		}
		g.output = v
		return nil
	},
	"query": func(g *globals, v string) error {
		if _, err := parseQuery(v); err != nil {
			return fmt.Errorf("argument --query: %v", err)
		}
		g.query = v
		return nil
	},
	"cli-binary-format": func(g *globals, v string) error {
		if v != "raw-in-base64-out" && v != "base64" {
			return fmt.Errorf("argument --cli-binary-format: invalid choice %q (choose from raw-in-base64-out, base64)", v)
		}
		g.binaryFormat = v
		return nil
	},
	"consistency": func(g *globals, v string) error {
		if v != "bounded" && v != "linearizable" {
			return fmt.Errorf("argument --consistency: invalid choice %q (choose from bounded, linearizable)", v)
		}
		g.setReadHeader(wire.ConsistencyHeader, v)
		return nil
	},
	"max-staleness": func(g *globals, v string) error {
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("argument --max-staleness: expected a duration such as 250ms, got %q", v)
		}
		g.setReadHeader(wire.MaxStalenessHeader, v)
		return nil
	},
	"min-index": func(g *globals, v string) error {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("argument --min-index: expected a raft index (a non-negative integer), got %q", v)
		}
		g.setReadHeader(wire.MinIndexHeader, v)
		return nil
	},
	"cli-read-timeout":    func(g *globals, v string) error { return parseSeconds(&g.readTimeout, "cli-read-timeout", v) },
	"cli-connect-timeout": func(g *globals, v string) error { return parseSeconds(&g.connectTimeout, "cli-connect-timeout", v) },
}

func parseSeconds(d *time.Duration, name, v string) error {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("argument --%s: expected a number of seconds, got %q", name, v)
	}
	*d = time.Duration(n * float64(time.Second))
	return nil
}

func (g *globals) setReadHeader(k, v string) {
	if g.readHeaders == nil {
		g.readHeaders = http.Header{}
	}
	g.readHeaders.Set(k, v)
}

// boolGlobals are global options that take no value.
var boolGlobals = map[string]func(g *globals){
	"show-consistency": func(g *globals) { g.showConsistency = true },
}

// ignoredGlobals are AWS CLI options that scripts pass and that mean
// nothing here.
var ignoredGlobals = map[string]bool{"no-cli-pager": true, "no-paginate": true}

// parseGlobals removes the global options from args, wherever they are, and
// returns them with the remaining arguments in order.
func parseGlobals(args []string) (*globals, []string, error) {
	g := &globals{output: "json", readTimeout: 60 * time.Second, connectTimeout: 60 * time.Second}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" {
			g.help = true
			continue
		}
		if !strings.HasPrefix(a, "--") {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		if ignoredGlobals[name] && !hasVal {
			continue
		}
		if set, ok := boolGlobals[name]; ok && !hasVal {
			set(g)
			continue
		}
		set, ok := globalFlags[name]
		if !ok {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, &usageError{msg: fmt.Sprintf("argument --%s: expected one argument", name)}
			}
			i++
			val = args[i]
		}
		if err := set(g, val); err != nil {
			return nil, nil, &usageError{msg: err.Error()}
		}
	}
	return g, rest, nil
}

// target is a resolved server address and credential set.
type target struct {
	baseURL    string // https://host:port
	serverName string // host, for certificate verification
	ca         string
	cert, key  string
	rootCAs    *x509.CertPool // if set, trusted instead of ca (bench's null server)
}

// resolveTarget applies the precedence flag > environment > default to the
// endpoint and each credential path.
func resolveTarget(g *globals, lookupEnv func(string) (string, bool)) (*target, error) {
	pick := func(flag, env, def string) string {
		if flag != "" {
			return flag
		}
		if v, ok := lookupEnv(env); ok && v != "" {
			return v
		}
		return def
	}
	dataDir := g.dataDir
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	admin := filepath.Join(dataDir, "admin")
	t := &target{
		ca:   pick(g.ca, "TRENT_CA", filepath.Join(admin, "ca.pem")),
		cert: pick(g.cert, "TRENT_CERT", filepath.Join(admin, "cert.pem")),
		key:  pick(g.key, "TRENT_KEY", filepath.Join(admin, "key.pem")),
	}
	var err error
	t.baseURL, t.serverName, err = parseEndpoint(pick(g.endpoint, "TRENT_ENDPOINT", defaultEndpoint))
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return t, nil
}

// parseEndpoint accepts host, host:port, [v6]:port or https://host:port and
// returns the base URL of the service and the host name to verify.
func parseEndpoint(s string) (baseURL, serverName string, err error) {
	s = strings.TrimSpace(s)
	hostport, path := s, ""
	if scheme, after, ok := strings.Cut(s, "://"); ok {
		if !strings.EqualFold(scheme, "https") {
			return "", "", fmt.Errorf("invalid endpoint %q: trent always uses TLS; give host:port or https://host:port", s)
		}
		u, err := url.Parse("https://" + after)
		if err != nil {
			return "", "", fmt.Errorf("invalid endpoint %q: %v", s, err)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return "", "", fmt.Errorf("invalid endpoint %q: only https://host:port[/path] is allowed", s)
		}
		hostport, path = u.Host, strings.TrimRight(u.Path, "/")
	}
	if hostport == "" {
		return "", "", fmt.Errorf("invalid endpoint %q: missing host", s)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: a name, an IPv4 address, a bare or a bracketed IPv6 address.
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defaultPort
		if strings.Contains(host, ":") && net.ParseIP(host) == nil || strings.ContainsAny(host, "[]/ ") {
			return "", "", fmt.Errorf("invalid endpoint %q: want host:port", s)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("invalid endpoint %q: missing host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("invalid endpoint %q: bad port %q", s, port)
	}
	return "https://" + net.JoinHostPort(host, port) + path, host, nil
}

// tlsConfig loads the CA and client key pair named by t.
func (t *target) tlsConfig() (*tls.Config, error) {
	for _, p := range []string{t.ca, t.cert, t.key} {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("credential file %s does not exist; start a node with `trent server` "+
				"or point --data-dir at a node's data directory (or pass --ca, --cert and --key)", p)
		}
	}
	caPEM, err := os.ReadFile(t.ca)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no PEM certificate in %s", t.ca)
	}
	if t.rootCAs != nil {
		pool = t.rootCAs
	}
	pair, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		return nil, fmt.Errorf("loading client certificate %s and key %s: %v", t.cert, t.key, err)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		ServerName:   t.serverName,
	}, nil
}

// httpClient returns an HTTP/2-only client with a connection pool shared by
// all calls. It sends each request straight to the transport: no redirects,
// and none of http.Client's per-request header copying.
func (t *target) httpClient(connectTimeout time.Duration) (connect.HTTPClient, error) {
	cfg, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		Protocols:           &protocols,
		DialContext:         (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: connectTimeout,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	return transportClient{tr}, nil
}

// transportClient is a [connect.HTTPClient] that never follows redirects: a
// redirect response reaches connect, which reports it as an error.
type transportClient struct{ rt http.RoundTripper }

func (c transportClient) Do(req *http.Request) (*http.Response, error) { return c.rt.RoundTrip(req) }

// dial resolves the target and returns a client of the KMS service.
func (c *command) dial(g *globals) (kmsv1connect.KeyManagementServiceClient, *target, error) {
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return nil, nil, err
	}
	hc, err := t.httpClient(g.connectTimeout)
	if err != nil {
		return nil, nil, err
	}
	// Requests and responses are small: don't spend CPU on gzip.
	client := kmsv1connect.NewKeyManagementServiceClient(hc, t.baseURL,
		connect.WithAcceptCompression("gzip", nil, nil))
	return client, t, nil
}

// errorType returns the AWS error name of err, and whether err came from
// the service at all (false for network and TLS failures).
func errorType(err error) (string, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || !connect.IsWireError(ce) {
		return "", false
	}
	if t := ce.Meta().Get(wire.ErrorTypeHeader); t != "" {
		return t, true
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*kmsv1.ErrorInfo); ok && info.GetType() != "" {
				return info.GetType(), true
			}
		}
	}
	return ce.Code().String(), true
}

// describeCallError renders a failed call the way the AWS CLI does, or as a
// one-line connection failure.
func describeCallError(e *callError) string {
	if typ, ok := errorType(e.err); ok {
		var ce *connect.Error
		errors.As(e.err, &ce)
		msg := fmt.Sprintf("An error occurred (%s) when calling the %s operation: %s", typ, e.op, ce.Message())
		if l := ce.Meta().Get(wire.LeaderHeader); l != "" {
			msg += fmt.Sprintf(" (the leader is at %s: --endpoint %s)", l, l)
		}
		return msg
	}
	return fmt.Sprintf("trent: could not call %s at %s: %s", e.op, e.endpoint, transportCause(e.err))
}

// transportCause is the most useful one-line description of a failure that
// happened before the service answered.
func transportCause(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out (see --cli-read-timeout)"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &certErr):
		return "TLS: the server certificate is not signed by the CA in --ca: " + innermost(err)
	case errors.As(err, &hostErr):
		return "TLS: " + hostErr.Error()
	}
	msg := innermost(err)
	switch {
	case strings.Contains(msg, "remote error: tls"):
		msg += " (the server rejected the client certificate; check --cert and --key)"
	case strings.Contains(msg, "client conn could not be established"),
		strings.Contains(msg, "connection reset by peer"), strings.Contains(msg, "broken pipe"):
		// With TLS 1.3 a rejected client certificate is often seen only as
		// the server closing the new connection.
		msg += " (the server closed the connection; it may have rejected the client certificate: check --cert and --key)"
	}
	return msg
}

// innermost strips URL and connect wrappers, keeping the network error text.
func innermost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}
