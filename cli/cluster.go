package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
)

const clusterUsage = `usage: trent cluster <verb> [options]

Verbs:
  join-token [--ttl 1h]   make a one-time token that lets one node join
                          (node --join HOST:PORT --join-token TOKEN)
  status                  show every node: id, role, voter, term, applied
                          and commit index, last contact, addresses, gossip
                          health (alive, suspect, dead, left), whether
                          its HSM is sealed and when its certificate
                          expires (asks every node), and when the cluster
                          CA expires
  remove NODE             remove a node from the cluster (admin only); a
                          removed node must be wiped and join again with a
                          new token to come back. Starts a domain-key
                          rotation (below)
  rotate-ca [--overlap 168h] [--bundle-out FILE]
                          replace the cluster CA (admin only): the new CA
                          issues every certificate from now on, the old one
                          stays trusted for the overlap, and nodes present
                          certificates of the new CA from its half-way
                          point. Writes the new CA bundle over this
                          client's --ca file (and to FILE): hand it to every
                          client before the switch, and new client
                          certificates before the overlap ends
  set-propagation DUR [--jitter DUR] [--accounts ID,...] | --clear
                          simulate the propagation delay of an eventually
                          consistent service on every node (admin only;
                          0s turns it off, --clear returns each node to its
                          --simulated-propagation flag); see
                          docs/eventual-consistency.md
  rotate-domain-key       rotate the cluster's domain key (admin only): a
                          new key from the leader's HSM goes to every
                          member, every EKT is re-wrapped under it in the
                          background, then the old key is destroyed on
                          every node and the gossip key replaced; status
                          shows the progress
`

// clusterClient dials the ClusterService of the target node.
func (c *command) clusterClient(g *globals, endpoint string) (clusterv1connect.ClusterServiceClient, error) {
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		if t.baseURL, t.serverName, err = parseEndpoint(endpoint); err != nil {
			return nil, err
		}
	}
	hc, err := t.httpClient(g.connectTimeout)
	if err != nil {
		return nil, err
	}
	return clusterv1connect.NewClusterServiceClient(hc, t.baseURL), nil
}

func (c *command) cluster(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] == "help" || g.help {
		fmt.Fprint(c.stdout, clusterUsage)
		return nil
	}
	switch args[0] {
	case "join-token":
		fs := flag.NewFlagSet("join-token", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		ttl := fs.Duration("ttl", time.Hour, "token lifetime, at most 24h")
		if err := fs.Parse(args[1:]); err != nil {
			return &usageError{msg: err.Error(), help: clusterUsage}
		}
		cl, err := c.clusterClient(g, "")
		if err != nil {
			return err
		}
		r, err := cl.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{TtlSeconds: int64(ttl.Seconds())})
		if err != nil {
			return &callError{op: "CreateJoinToken", err: err}
		}
		fmt.Fprintln(c.stdout, r.Token)
		fmt.Fprintf(c.stderr, "expires %s; it works once\n", time.UnixMilli(int64(r.ExpiresAt*1000)).UTC().Format(time.RFC3339))
		return nil
	case "status":
		return c.clusterStatus(ctx, g)
	case "set-propagation":
		return c.setPropagation(ctx, g, args[1:])
	case "remove":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return &usageError{msg: "usage: trent cluster remove NODE", help: clusterUsage}
		}
		cl, err := c.clusterClient(g, "")
		if err != nil {
			return err
		}
		if _, err := cl.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: args[1]}); err != nil {
			return &callError{op: "RemoveNode", err: err}
		}
		fmt.Fprintf(c.stdout, "removed %s\n", args[1])
		return nil
	case "rotate-ca":
		return c.rotateCA(ctx, g, args[1:])
	case "rotate-domain-key":
		if len(args) != 1 {
			return &usageError{msg: "usage: trent cluster rotate-domain-key", help: clusterUsage}
		}
		cl, err := c.clusterClient(g, "")
		if err != nil {
			return err
		}
		r, err := cl.RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{})
		if err != nil {
			return &callError{op: "RotateDomainKey", err: err}
		}
		fmt.Fprintf(c.stdout, "domain-key rotation to generation %d started (%s); trent cluster status shows its progress\n",
			r.GetRotation().GetGeneration(), r.GetRotation().GetNewKeyId())
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown cluster verb %q (valid: join-token, remove, rotate-ca, rotate-domain-key, set-propagation, status)", args[0]), help: clusterUsage}
}

// rotateCA runs trent cluster rotate-ca.
func (c *command) rotateCA(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("rotate-ca", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	overlap := fs.Duration("overlap", 7*24*time.Hour, "how long the old CA stays trusted (at least 1m)")
	bundleOut := fs.String("bundle-out", "", "also write the new CA bundle to this file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return &usageError{msg: "usage: trent cluster rotate-ca [--overlap 168h] [--bundle-out FILE]", help: clusterUsage}
	}
	if *overlap < time.Minute {
		return &usageError{msg: fmt.Sprintf("--overlap %s is shorter than a minute", *overlap), help: clusterUsage}
	}
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return err
	}
	cl, err := c.clusterClient(g, "")
	if err != nil {
		return err
	}
	r, err := cl.RotateCA(ctx, &clusterv1.RotateCARequest{OverlapSeconds: int64(overlap.Seconds())})
	if err != nil {
		return &callError{op: "RotateCA", err: err}
	}
	fmt.Fprintf(c.stdout, "cluster CA rotated: nodes present certificates of the new CA from %s; the old CA is trusted until %s\n", r.SwitchAt, r.Until)
	for _, path := range []string{t.ca, *bundleOut} {
		if path == "" {
			continue
		}
		if err := writeFileReplacing(path, r.CaBundle); err != nil {
			return fmt.Errorf("the CA was rotated, but the new bundle could not be written to %s: %w (trent cluster status shows the rotation; the bundle is the ca_pem of a new client certificate)", path, err)
		}
		fmt.Fprintf(c.stdout, "wrote the CA bundle to %s\n", path)
	}
	return nil
}

// writeFileReplacing replaces path with data through a temporary file in
// its directory, keeping the file's mode if it exists (0644 if not).
func writeFileReplacing(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

type nodeRow struct {
	ID           string `json:"Id"`
	Role         string `json:"Role"`
	Voter        bool   `json:"Voter"`
	Term         uint64 `json:"Term"`
	AppliedIndex uint64 `json:"AppliedIndex"`
	CommitIndex  uint64 `json:"CommitIndex"`
	LastContact  string `json:"LastContact,omitempty"`
	APIAddr      string `json:"ApiAddr"`
	RaftAddr     string `json:"RaftAddr"`
	GossipAddr   string `json:"GossipAddr,omitempty"`
	// Health is gossip's view (from the node asked first).
	Health string `json:"Health"`
	// Reachable says whether the node answered; Sealed is only known then.
	Reachable bool  `json:"Reachable"`
	Sealed    *bool `json:"Sealed,omitempty"`
	// CertNotAfter is when the node's certificate in force expires (RFC
	// 3339), known only if it answered.
	CertNotAfter string `json:"CertNotAfter,omitempty"`
	// SimulatedPropagation is the delay in force on the node, if any, and
	// where it comes from (cluster, flag); known only if it answered.
	SimulatedPropagation       string `json:"SimulatedPropagation,omitempty"`
	SimulatedPropagationSource string `json:"SimulatedPropagationSource,omitempty"`
}

// clusterStatus asks the target node for the membership and gossip health,
// then each member for its own role, term, indexes and seal state.
func (c *command) clusterStatus(ctx context.Context, g *globals) error {
	cl, err := c.clusterClient(g, "")
	if err != nil {
		return err
	}
	st, err := cl.Status(ctx, &clusterv1.StatusRequest{})
	if err != nil {
		return &callError{op: "Status", err: err}
	}
	var rows []nodeRow
	for _, n := range st.Nodes {
		row := nodeRow{ID: n.Id, Role: n.Role, Voter: n.Voter, APIAddr: n.ApiAddr, RaftAddr: n.RaftAddr, GossipAddr: n.GossipAddr,
			Health: n.Health}
		if row.Health == "" {
			row.Health = "unknown"
		}
		if n.ApiAddr != "" {
			if peer, err := c.clusterClient(g, n.ApiAddr); err == nil {
				pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				if own, err := peer.Status(pctx, &clusterv1.StatusRequest{}); err == nil && own.GetSelf().GetId() == n.Id {
					self := own.Self
					sealed := self.Sealed
					row.Reachable, row.Sealed = true, &sealed
					row.Role, row.Term, row.AppliedIndex, row.CommitIndex, row.LastContact = self.Role, self.Term, self.AppliedIndex, self.CommitIndex, self.LastContact
					row.CertNotAfter = self.CertNotAfter
					row.SimulatedPropagation, row.SimulatedPropagationSource = self.SimulatedPropagation, self.SimulatedPropagationSource
				}
				cancel()
			}
		}
		rows = append(rows, row)
	}
	if g.output == "text" {
		fmt.Fprintf(c.stdout, "%-10s %-9s %-6s %6s %9s %9s %-10s %-22s %-8s %-6s %s\n", "ID", "ROLE", "VOTER", "TERM", "APPLIED", "COMMIT", "CONTACT", "API", "HEALTH", "SEALED", "CERT EXPIRES")
		for _, r := range rows {
			sealed := "?"
			if r.Sealed != nil {
				sealed = fmt.Sprint(*r.Sealed)
			}
			fmt.Fprintf(c.stdout, "%-10s %-9s %-6v %6d %9d %9d %-10s %-22s %-8s %-6s %s\n", r.ID, r.Role, r.Voter, r.Term,
				r.AppliedIndex, r.CommitIndex, orDash(r.LastContact), r.APIAddr, r.Health, sealed, orDash(r.CertNotAfter))
		}
		fmt.Fprintf(c.stdout, "CA EXPIRES %s\n", orDash(st.CaNotAfter))
		if st.CaPreviousUntil != "" {
			fmt.Fprintf(c.stdout, "CA ROTATION: nodes switch to the new CA at %s; the old CA is trusted until %s\n", st.CaSwitchAt, st.CaPreviousUntil)
		}
		if r := st.DomainRotation; r != nil {
			fmt.Fprintf(c.stdout, "DOMAIN KEY generation %d (%s): %s, %d/%d EKTs re-wrapped, %d/%d members ready\n",
				r.Generation, orDash(r.Reason), r.State, r.Rewrapped, r.Total, len(r.Ready), len(r.Members))
		}
		printPropagation(c.stdout, st.Propagation, rows)
		return nil
	}
	out := map[string]any{"Nodes": rows}
	if p := st.Propagation; p != nil {
		out["Propagation"] = p
	}
	if st.CaNotAfter != "" {
		out["CANotAfter"] = st.CaNotAfter
	}
	if st.CaPreviousUntil != "" {
		out["CASwitchAt"], out["CAPreviousUntil"] = st.CaSwitchAt, st.CaPreviousUntil
	}
	if r := st.DomainRotation; r != nil {
		out["DomainRotation"] = map[string]any{"Generation": r.Generation, "State": r.State, "Reason": r.Reason,
			"OldKeyId": r.OldKeyId, "NewKeyId": r.NewKeyId, "Members": r.Members, "Ready": r.Ready,
			"Rewrapped": r.Rewrapped, "Total": r.Total, "Started": r.Started, "Finished": r.Finished}
	}
	b, err := json.MarshalIndent(out, "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, string(b))
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// printPropagation ends the text status with the simulated propagation
// delay, when any node has one.
func printPropagation(w io.Writer, p *clusterv1.Propagation, rows []nodeRow) {
	var nodes []string
	for _, r := range rows {
		if r.SimulatedPropagation != "" {
			nodes = append(nodes, fmt.Sprintf("%s=%s(%s)", r.ID, r.SimulatedPropagation, r.SimulatedPropagationSource))
		}
	}
	if p == nil && len(nodes) == 0 {
		return
	}
	cluster := "-"
	if p != nil {
		cluster = "delay " + p.Delay + " jitter " + p.Jitter
		if len(p.Accounts) > 0 {
			cluster += " accounts " + strings.Join(p.Accounts, ",")
		}
	}
	fmt.Fprintf(w, "SIMULATED PROPAGATION cluster: %s; nodes: %s\n", cluster, orDash(strings.Join(nodes, " ")))
}

// setPropagation sets or clears the cluster-wide simulated propagation
// delay.
func (c *command) setPropagation(ctx context.Context, g *globals, args []string) error {
	const usage = "usage: trent cluster set-propagation DUR [--jitter DUR] [--accounts ID,...] | --clear"
	fs := flag.NewFlagSet("set-propagation", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jitter := fs.String("jitter", "", "each node adds its own draw from [0, jitter]")
	accounts := fs.String("accounts", "", "only callers of these accounts read the delayed view")
	clear := fs.Bool("clear", false, "remove the cluster-wide setting")
	var delay string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		delay, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (delay == "") != *clear {
		return &usageError{msg: usage, help: clusterUsage}
	}
	req := &clusterv1.SetPropagationRequest{Delay: delay, Jitter: *jitter, Clear: *clear}
	for _, a := range strings.Split(*accounts, ",") {
		if a = strings.TrimSpace(a); a != "" {
			req.Accounts = append(req.Accounts, a)
		}
	}
	cl, err := c.clusterClient(g, "")
	if err != nil {
		return err
	}
	r, err := cl.SetPropagation(ctx, req)
	if err != nil {
		return &callError{op: "SetPropagation", err: err}
	}
	if *clear {
		fmt.Fprintf(c.stdout, "cleared the cluster-wide simulated propagation (index %d)\n", r.Index)
	} else {
		fmt.Fprintf(c.stdout, "simulated propagation %s on every node (index %d)\n", delay, r.Index)
	}
	return nil
}
