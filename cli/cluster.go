package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
	return &usageError{msg: fmt.Sprintf("unknown cluster verb %q (valid: join-token, remove, rotate-domain-key, status)", args[0]), help: clusterUsage}
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
		if r := st.DomainRotation; r != nil {
			fmt.Fprintf(c.stdout, "DOMAIN KEY generation %d (%s): %s, %d/%d EKTs re-wrapped, %d/%d members ready\n",
				r.Generation, orDash(r.Reason), r.State, r.Rewrapped, r.Total, len(r.Ready), len(r.Members))
		}
		return nil
	}
	out := map[string]any{"Nodes": rows}
	if st.CaNotAfter != "" {
		out["CANotAfter"] = st.CaNotAfter
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
