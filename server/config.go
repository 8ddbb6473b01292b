package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/quota"
)

// Config configures a node. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// DataDir holds all of the node's state.
	DataDir string `json:"data_dir"`
	// NodeID is the node's stable raft id. Empty means the one recorded in
	// the data directory, or "node1" on first start.
	NodeID string `json:"node_id"`
	// APIAddr is the HTTPS listen address for Connect, gRPC and gRPC-Web.
	APIAddr string `json:"api_addr"`
	// RaftAddr is the raft transport's listen address (mutual TLS).
	RaftAddr string `json:"raft_addr"`
	// Region appears in key ARNs.
	Region string `json:"region"`
	// AccountID is the account of the admin principal created on first
	// start (arn:aws:iam::<AccountID>:root).
	AccountID string `json:"account_id"`
	// HSM names the HSM backend (see openBackend): "soft" (the default,
	// pure Go) or "pkcs11" (a PKCS#11 token; only in binaries built with
	// cgo and -tags pkcs11). Empty means "soft".
	HSM string `json:"hsm"`
	// PKCS11Module is the PKCS#11 library of --hsm pkcs11.
	PKCS11Module string `json:"pkcs11_module"`
	// PKCS11TokenLabel selects the token of --hsm pkcs11 by label.
	PKCS11TokenLabel string `json:"pkcs11_token_label"`
	// PKCS11PINFile holds the token's user PIN (mode 0600 or stricter).
	// Empty means the environment variable TRENT_PKCS11_PIN. The PIN is
	// never a flag value: flags show in ps.
	PKCS11PINFile string `json:"pkcs11_pin_file"`
	// HSMPassphraseFile, if set, holds the passphrase that unseals the soft
	// HSM (Argon2id): mode 0600 or stricter, at least 16 bytes without the
	// trailing newline. Empty means dev mode: a key file in the data dir.
	HSMPassphraseFile string `json:"hsm_passphrase_file"`
	// SealedStart starts the node sealed: it joins raft and replicates,
	// refuses KMS and IAM calls as retryable, and opens its HSM only when
	// an admin runs trent node unseal with the soft HSM's passphrase or
	// the token's PIN (sealed.go). It needs a node that has started
	// before, with a passphrase-sealed soft HSM or a PKCS#11 token, and no
	// passphrase or PIN file.
	SealedStart bool `json:"sealed_start"`
	// GossipAddr is the gossip (memberlist) address, TCP and UDP, which
	// members discover each other and detect failures on.
	GossipAddr string `json:"gossip_addr"`
	// Join lists API addresses (host:port) of cluster members to join
	// through; used only on first start. (API, not gossip, addresses: the
	// join is an exchange over TLS pinned to the token's CA, and gossip is
	// only open to holders of the cluster's gossip key, which the joiner
	// gets from the replicated state once admitted.)
	Join []string `json:"join"`
	// JoinToken is a one-time token from `trent cluster join-token`.
	JoinToken string `json:"join_token"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// LogFormat is text (the default) or json: one JSON object a line,
	// raft's lines too.
	LogFormat string `json:"log_format"`
	// BootstrapExpect, on the node that creates the cluster, is the number
	// of voters the cluster is being formed with: no node serves KMS or
	// IAM calls until that many have joined (the others join with tokens).
	// 0 or 1 means serve at once.
	BootstrapExpect int `json:"bootstrap_expect"`
	// DeadServerCleanup, if positive, lets the leader remove a member that
	// gossip has reported dead or left for longer than this.
	DeadServerCleanup Duration `json:"dead_server_cleanup"`
	// CleanupMinVoters is the voter count dead-server cleanup never goes
	// below; zero means 3.
	CleanupMinVoters int `json:"cleanup_min_voters"`
	// MaxStaleness bounds how stale a bounded (default) read may be on
	// this node; a request can only tighten it. See docs/consistency.md.
	MaxStaleness Duration `json:"max_staleness"`
	// SimulatedPropagation, if positive, serves bounded reads from a view
	// of the state at least this old (never older than MaxStaleness
	// allows), and SimulatedPropagationJitter adds this node's draw from
	// [0, jitter]: a test cluster then shows the propagation delay of an
	// eventually consistent service. A cluster-wide setting (`trent
	// cluster set-propagation`) overrides both. See
	// docs/eventual-consistency.md.
	SimulatedPropagation       Duration `json:"simulated_propagation"`
	SimulatedPropagationJitter Duration `json:"simulated_propagation_jitter"`
	// SnapshotInterval is how often raft checks whether to snapshot, and
	// SnapshotThreshold how many new log entries make it do so;
	// TrailingLogs entries are kept after a snapshot for followers that
	// lag a little (one that lags more is sent the snapshot). Zero means
	// raft's defaults here (120s, 8192, 10240).
	SnapshotInterval  Duration `json:"snapshot_interval"`
	SnapshotThreshold uint64   `json:"snapshot_threshold"`
	TrailingLogs      uint64   `json:"trailing_logs"`
	// UnsafeSkipFreshness serves bounded reads with no freshness check.
	// It breaks the consistency promise on purpose, so that the Jepsen
	// canary can show the checkers catch it; never use it otherwise.
	UnsafeSkipFreshness bool `json:"-"`
	// UnsafeLifecycleDay is how long a "day" of deletion waiting periods
	// and rotation periods lasts; zero means 24h. A shorter day lets a
	// test harness (jepsen/) or an application's test suite see a
	// seven-day deletion window end in seconds; a node logs a warning
	// when it is set. Never set it in production.
	UnsafeLifecycleDay Duration `json:"-"`
	// UnsafeClockFile moves the node's time of day by what the file says
	// (see clockFile): the Jepsen harness's clock faults make it jump and
	// drift. Never set it in production.
	UnsafeClockFile string `json:"-"`
	// UnsafeClockFreshness times the freshness of bounded reads on that
	// time of day instead of the monotonic clock: the canary of the clock
	// faults, which must catch it.
	UnsafeClockFreshness bool `json:"-"`
	// MetricsAddr, if set, serves the Prometheus metrics over plain HTTP
	// at /metrics on this address (and nothing else), for a scraper that
	// holds no client certificate; bind it to loopback or a management
	// network. Empty means no such listener: the API listener serves
	// /metrics to the admin either way.
	MetricsAddr string `json:"metrics_addr"`
	// Pprof serves the Go runtime's profiles (CPU, heap, goroutines,
	// execution trace) at /debug/pprof/ on the API listener, to the admin
	// account's root only, each one recorded in the audit trail (pprof.go).
	// Off by default.
	Pprof bool `json:"pprof"`
	// AuditDir holds the audit log; empty means DataDir/audit.
	AuditDir string `json:"audit_dir"`
	// AuditSyncInterval, when positive, answers calls once their audit
	// records are written and fsyncs the log at most this long afterwards
	// (records survive a crash of the node, not of the machine). Zero,
	// the default, answers only after the records are fsynced.
	AuditSyncInterval Duration `json:"audit_sync_interval"`
	// CertRenewFraction is how much of its lifetime a node certificate
	// has left when the node renews it (see certrenew.go); zero in a
	// Config means the default, a third.
	CertRenewFraction float64 `json:"cert_renew_fraction"`
	// RequestQuotas are the request quotas this node enforces per calling
	// account, as package quota parses them: "NAME=RATE,..." (an
	// operation or a group such as cryptographic, in requests per second)
	// or the preset "aws" (AWS KMS's default quotas). Empty, the default,
	// throttles nothing. A SIGHUP reload changes them.
	RequestQuotas string `json:"request_quotas"`

	// PeerDialMap sends each node-to-node connection for a peer address
	// (a key) to another address (its value) instead, under the same TLS
	// server name: a test harness puts a proxy per link there to cut links
	// without root (see docs/jepsen.md).
	PeerDialMap map[string]string `json:"-"`

	// Testing holds settings for tests and benchmarks only. Operators
	// never set it: no flag or config file field reaches it. Nil is the
	// production behaviour.
	Testing *TestingKnobs `json:"-"`
}

// TestingKnobs are the settings of a node that only tests and benchmarks
// change. Their zero values are the production behaviour.
type TestingKnobs struct {
	// Dial, if set, opens every node-to-node connection (raft and
	// forwarded calls); tests inject network faults through it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RaftTimeout scales raft's heartbeat and election timeouts; tests
	// shorten it. Zero means 1s.
	RaftTimeout time.Duration
	// GossipProbeInterval paces gossip's failure detector; zero means the
	// LAN defaults. Tests shorten it.
	GossipProbeInterval time.Duration
	// MembershipInterval is how often the leader reconciles membership
	// without a gossip event; zero means 5s.
	MembershipInterval time.Duration
	// Now is the clock of the KMS service and of the leader's key
	// lifecycle passes (deletions and rotations that are due); nil means
	// time.Now. Tests move it days ahead.
	Now func() time.Time
	// CertNow is the clock of node certificate renewal and of every TLS
	// handshake's validity check; nil means time.Now. Tests move it to
	// near and past a certificate's expiry.
	CertNow func() time.Time
	// NodeCertLifetime is the lifetime of the node certificates this node
	// issues (its own, its renewals, and those of nodes joining through
	// it); zero means a year.
	NodeCertLifetime time.Duration
	// CertCheckInterval is how often a node checks whether its
	// certificate is due for renewal; zero means ten minutes.
	CertCheckInterval time.Duration
	// LifecycleInterval is the time between the leader's lifecycle
	// passes; zero means one minute.
	LifecycleInterval time.Duration
	// RotationInterval paces every node's domain-key rotation steps; zero
	// means 250ms. RewrapBatch is how many EKTs one re-wrap command
	// carries (zero: 64); RewrapHold, if set, holds re-wrapping while it
	// returns true, given the batches applied so far (cluster.Config).
	RotationInterval time.Duration
	RewrapBatch      int
	RewrapHold       func(batches int) bool
	// Stderr receives logs and the start-up banner; nil means os.Stderr.
	Stderr io.Writer
	// Logger overrides the logger built from LogLevel and Stderr.
	Logger *slog.Logger
	// Hold, if set, is called as the node enters a state, which it does
	// not leave until Hold returns: "waiting-for-leader" (the API
	// listener serves the cluster routes; no leader is known yet),
	// "catching-up" (a leader is known; the start-up barrier is not yet
	// applied) and "closing" (Close has begun). apiAddr is the API
	// listener's address. Tests hold a node there to probe it.
	Hold func(state, apiAddr string)
	// AuditOff serves without an audit trail. Only benchmarks set it, to
	// measure the trail's cost; a node started from flags always audits.
	AuditOff bool
	// MetricsOff serves without metrics: no collectors, no observers, no
	// /metrics route. Only benchmarks set it, to measure the metrics'
	// cost; a node started from flags always keeps metrics.
	MetricsOff bool
}

// knobs returns c's testing knobs, the zero value when there are none.
func (c *Config) knobs() TestingKnobs {
	var k TestingKnobs
	if c.Testing != nil {
		k = *c.Testing
	}
	if c.UnsafeClockFile != "" {
		clock := clockFor(c.UnsafeClockFile)
		if k.Now == nil {
			k.Now = clock
		}
		if k.CertNow == nil {
			k.CertNow = clock
		}
	}
	return k
}

// DefaultConfig returns the embedded single-node defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:    "./trent-data",
		APIAddr:    "127.0.0.1:7700",
		RaftAddr:   "127.0.0.1:7701",
		GossipAddr: "127.0.0.1:7702",
		Region:     "us-east-1",
		HSM:        soft.Kind,
		AccountID:  "111122223333",
		LogLevel:   "info",
		LogFormat:  logText,

		MaxStaleness: Duration(time.Second),
	}
}

// Duration is a time.Duration written as text ("1s", "250ms") in config
// files.
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"1s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Validate checks the configuration and says what is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if c.NodeID != "" && !identity.ValidNodeID(c.NodeID) {
		errs = append(errs, fmt.Errorf("--node-id %q is not valid: use letters, digits, '-', '_' and '.'", c.NodeID))
	}
	for name, addr := range map[string]string{"--api-addr": c.APIAddr, "--raft-addr": c.RaftAddr, "--gossip-addr": c.GossipAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s %q is not host:port", name, addr))
		}
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("--metrics-addr %q is not host:port", c.MetricsAddr))
		}
	}
	if !identity.ValidRegion(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q is not a region name like us-east-1", c.Region))
	}
	if !identity.ValidAccountID(c.AccountID) {
		errs = append(errs, fmt.Errorf("--account-id %q must be exactly 12 digits", c.AccountID))
	}
	for _, a := range c.Join {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("--join address %q is not host:port", a))
		}
	}
	for from, via := range c.PeerDialMap {
		for _, a := range []string{from, via} {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				errs = append(errs, fmt.Errorf("--peer-dial-map address %q is not host:port", a))
			}
		}
	}
	switch c.HSM {
	case "", soft.Kind:
	case pkcs11.Kind:
		if !pkcs11.Compiled {
			errs = append(errs, errors.New("--hsm pkcs11: "+pkcs11.ErrNotCompiled.Error()))
		}
		if c.PKCS11Module == "" || c.PKCS11TokenLabel == "" {
			errs = append(errs, errors.New("--hsm pkcs11 needs --pkcs11-module and --pkcs11-token-label"))
		}
	default:
		errs = append(errs, fmt.Errorf("--hsm %q is not a backend: use %q or %q", c.HSM, soft.Kind, pkcs11.Kind))
	}
	if c.SealedStart && (c.HSMPassphraseFile != "" || c.PKCS11PINFile != "") {
		errs = append(errs, errors.New("--sealed-start takes the passphrase or PIN from trent node unseal: drop --hsm-passphrase-file and --pkcs11-pin-file"))
	}
	if len(c.Join) > 0 && c.JoinToken == "" {
		errs = append(errs, errors.New("--join needs --join-token"))
	}
	switch {
	case c.BootstrapExpect < 0:
		errs = append(errs, errors.New("--bootstrap-expect must not be negative"))
	case c.BootstrapExpect > 1 && len(c.Join) > 0:
		errs = append(errs, errors.New("--bootstrap-expect is for the node that creates the cluster; a node started with --join joins one"))
	}
	if c.DeadServerCleanup < 0 {
		errs = append(errs, errors.New("--dead-server-cleanup must not be negative"))
	}
	if c.CleanupMinVoters < 0 {
		errs = append(errs, errors.New("--cleanup-min-voters must not be negative"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if _, err := quota.Parse(c.RequestQuotas); err != nil {
		errs = append(errs, fmt.Errorf("--request-quotas: %w", err))
	}
	if err := validLogFormat(c.LogFormat); err != nil {
		errs = append(errs, err)
	}
	if d := time.Duration(c.SnapshotInterval); d < 0 || (d > 0 && d < 10*time.Millisecond) {
		errs = append(errs, fmt.Errorf("--snapshot-interval %s must be at least 10ms", d))
	}
	if d := time.Duration(c.MaxStaleness); d < 10*time.Millisecond || d > time.Hour {
		errs = append(errs, fmt.Errorf("--max-staleness %s must be between 10ms and 1h", d))
	}
	if d, j := time.Duration(c.SimulatedPropagation), time.Duration(c.SimulatedPropagationJitter); d < 0 || j < 0 || d+j > time.Duration(c.MaxStaleness) {
		errs = append(errs, fmt.Errorf("--simulated-propagation %s plus --simulated-propagation-jitter %s must be between 0 and --max-staleness %s (raise both for a longer delay)",
			d, j, time.Duration(c.MaxStaleness)))
	}
	if f := c.CertRenewFraction; f != 0 && (f < 0.05 || f > 0.9) {
		errs = append(errs, fmt.Errorf("--cert-renew-fraction %v must be between 0.05 and 0.9 (0 means the default, 1/3)", f))
	}
	if d := time.Duration(c.AuditSyncInterval); d < 0 || d > time.Minute {
		errs = append(errs, fmt.Errorf("--audit-sync-interval %s must be between 0 and 1m", d))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q must be debug, info, warn or error", s)
	}
	return l, nil
}

// ErrHelp is returned by ParseArgs when help was asked for.
var ErrHelp = flag.ErrHelp

// ParseArgs builds a Config from command-line arguments: defaults, then a
// JSON config file (--config), then flags, each overriding the last.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	return parseArgs("node", args, stderr)
}

// parseArgs is ParseArgs for the command called name in its usage ("node",
// "trent server").
func parseArgs(name string, args []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "JSON config file; flags override its values")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for all node state")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "stable node id (default: recorded in the data dir, else node1)")
	fs.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "HTTPS address for Connect, gRPC and gRPC-Web")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", cfg.RaftAddr, "raft transport address (mutual TLS)")
	fs.StringVar(&cfg.GossipAddr, "gossip-addr", cfg.GossipAddr, "gossip address, TCP and UDP (encrypted with the cluster's gossip key)")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", cfg.BootstrapExpect,
		"on the first node of a new cluster: serve KMS and IAM calls only once this many voters have joined")
	fs.Func("dead-server-cleanup", "if set, the leader removes a member gossip reports dead or left for longer than this (e.g. 30m)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		cfg.DeadServerCleanup = Duration(d)
		return nil
	})
	fs.IntVar(&cfg.CleanupMinVoters, "cleanup-min-voters", cfg.CleanupMinVoters, "dead-server cleanup never leaves fewer voters than this (default 3)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "AWS region name used in key ARNs")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "12-digit account id of the admin principal")
	fs.StringVar(&cfg.HSM, "hsm", cfg.HSM, `HSM backend: "soft" (the default, pure Go) or "pkcs11" (a PKCS#11 token; binaries built with -tags pkcs11)`)
	fs.StringVar(&cfg.PKCS11Module, "pkcs11-module", cfg.PKCS11Module, "--hsm pkcs11: path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	fs.StringVar(&cfg.PKCS11TokenLabel, "pkcs11-token-label", cfg.PKCS11TokenLabel, "--hsm pkcs11: label of the token this node uses (one token per node)")
	fs.StringVar(&cfg.PKCS11PINFile, "pkcs11-pin-file", cfg.PKCS11PINFile, "--hsm pkcs11: file holding the token's user PIN, mode 0600 (default: the environment variable TRENT_PKCS11_PIN)")
	fs.StringVar(&cfg.HSMPassphraseFile, "hsm-passphrase-file", cfg.HSMPassphraseFile, "file holding the soft HSM passphrase, mode 0600, at least 16 bytes (default: dev mode, key file in the data dir)")
	fs.BoolVar(&cfg.SealedStart, "sealed-start", cfg.SealedStart, "start sealed: replicate but serve no KMS call until trent node unseal gives the HSM passphrase or PKCS#11 PIN")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json (one JSON object a line)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr,
		"serve Prometheus metrics over plain HTTP at http://ADDR/metrics, e.g. 127.0.0.1:7709 (default off; the API port serves /metrics to the admin)")
	fs.BoolVar(&cfg.Pprof, "pprof", cfg.Pprof,
		"serve Go profiles (CPU, heap, goroutines, trace) at https://API-ADDR/debug/pprof/ to the admin only (default off)")
	fs.StringVar(&cfg.AuditDir, "audit-dir", cfg.AuditDir, "directory of the audit log (default DATA-DIR/audit)")
	fs.Func("audit-sync-interval", "answer calls once their audit records are written and fsync at most this long after, e.g. 10ms (default 0: fsync before answering)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		cfg.AuditSyncInterval = Duration(d)
		return nil
	})
	fs.StringVar(&cfg.RequestQuotas, "request-quotas", cfg.RequestQuotas,
		`request quotas per calling account on this node, NAME=RATE,... in requests per second (NAME an operation, or cryptographic or asymmetric for AWS's shared quotas), or "aws" for AWS KMS's defaults (default: none; SIGHUP reloads)`)
	fs.Float64Var(&cfg.CertRenewFraction, "cert-renew-fraction", cfg.CertRenewFraction,
		"renew this node's certificate when this fraction of its lifetime is left, between 0.05 and 0.9 (default 1/3)")
	fs.Func("join", "API address(es) host:port of cluster members to join through, comma-separated (first start only; gossip addresses are learned after joining)", func(v string) error {
		cfg.Join = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Join = append(cfg.Join, a)
			}
		}
		return nil
	})
	fs.Func("peer-dial-map", "testing: dial the peer address REAL at VIA instead, as REAL=VIA,... (a proxy per link, to cut links without root)", func(v string) error {
		m := map[string]string{}
		for _, pair := range strings.Split(v, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			from, via, ok := strings.Cut(pair, "=")
			if !ok {
				return fmt.Errorf("%q is not REAL=VIA", pair)
			}
			m[from] = via
		}
		cfg.PeerDialMap = m
		return nil
	})
	fs.StringVar(&cfg.JoinToken, "join-token", cfg.JoinToken, "one-time join token from `trent cluster join-token`")
	fs.Func("max-staleness", "how stale a bounded (default) read may be on this node, e.g. 1s or 250ms (default 1s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		cfg.MaxStaleness = Duration(d)
		return nil
	})
	fs.Func("simulated-propagation", "serve bounded reads from a view of the state this old, e.g. 2s, to test for eventual consistency (at most --max-staleness; default 0, off)", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.SimulatedPropagation = Duration(d)
		return err
	})
	fs.Func("simulated-propagation-jitter", "add a per-node draw from [0, this] to --simulated-propagation, so nodes disagree for a while", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.SimulatedPropagationJitter = Duration(d)
		return err
	})
	fs.Func("snapshot-interval", "how often raft considers taking a snapshot (default 2m)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		cfg.SnapshotInterval = Duration(d)
		return nil
	})
	fs.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", cfg.SnapshotThreshold, "new log entries that trigger a snapshot (default 8192)")
	fs.Uint64Var(&cfg.TrailingLogs, "trailing-logs", cfg.TrailingLogs, "log entries kept after a snapshot for lagging followers (default 10240)")
	// Hidden: it exists for the Jepsen canary only (see jepsen/).
	fs.BoolVar(&cfg.UnsafeSkipFreshness, "unsafe-skip-freshness", false, "")
	// Hidden: test harnesses shorten deletion windows and rotation
	// periods with it.
	fs.Func("unsafe-lifecycle-day", "", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < time.Millisecond || d > 24*time.Hour {
			return fmt.Errorf("--unsafe-lifecycle-day %s must be between 1ms and 24h", v)
		}
		cfg.UnsafeLifecycleDay = Duration(d)
		return nil
	})
	// Hidden: the Jepsen harness's clock faults, and their canary.
	fs.StringVar(&cfg.UnsafeClockFile, "unsafe-clock-file", "", "")
	fs.BoolVar(&cfg.UnsafeClockFreshness, "unsafe-clock-freshness", false, "")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRuns a Trent node. With no flags it starts an embedded single-node\ncluster in ./trent-data, serving on https://127.0.0.1:7700.\n\nFlags:\n", name)
		printFlags(fs)
	}
	// A first pass finds --config so that flags can override the file.
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if *configFile != "" {
		fileCfg := DefaultConfig()
		if err := readConfigFile(*configFile, &fileCfg); err != nil {
			return cfg, err
		}
		cfg = fileCfg
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

// printFlags is flag.PrintDefaults without the hidden unsafe-* flags.
func printFlags(fs *flag.FlagSet) {
	all := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	all.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "unsafe-") {
			all.Var(f.Value, f.Name, f.Usage)
		}
	})
	all.PrintDefaults()
}

func readConfigFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}
