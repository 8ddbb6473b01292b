package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/nodeproc"
)

const devUsage = `usage: trent dev cluster [--nodes 3] [--dir ./trent-cluster] [--base-port 7710] [--node-bin PATH]

Starts a local cluster: N node processes on 127.0.0.1 with their own ports
(node i: API base+10*(i-1), raft the next port, gossip the one after) and
data dirs (DIR/n1 ...).
Node n1 creates the cluster; the others join it with one-time tokens. It
waits until every node is a voter, prints each node's id, PID and API
address and the command that restarts it, and writes DIR/cluster.json.
Ctrl-C stops them all. The nodes run this trent executable's server
command (trent server), so it works wherever trent is installed; --node-bin
runs another node binary instead (a build of ./cmd/node, or anything that
takes the flags of trent server).
`

type devNode struct {
	ID       string `json:"id"`
	PID      int    `json:"pid"`
	APIAddr  string `json:"api_addr"`
	RaftAddr string `json:"raft_addr"`
	// GossipAddr is the node's gossip (memberlist) address, TCP and UDP.
	GossipAddr string `json:"gossip_addr"`
	DataDir    string `json:"data_dir"`
	proc       *nodeproc.Process
	args       []string
}

type devClusterFile struct {
	Nodes     []*devNode `json:"nodes"`
	CA        string     `json:"ca"`
	AdminCert string     `json:"admin_cert"`
	AdminKey  string     `json:"admin_key"`
}

func (c *command) dev(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] != "cluster" || g.help {
		if g.help || len(args) > 0 && args[0] == "help" {
			fmt.Fprint(c.stdout, devUsage)
			return nil
		}
		return &usageError{msg: "usage: trent dev cluster [options]", help: devUsage}
	}
	fs := flag.NewFlagSet("dev cluster", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("nodes", 3, "number of nodes (1-9)")
	dir := fs.String("dir", "./trent-cluster", "directory for the nodes' data dirs and cluster.json")
	base := fs.Int("base-port", 7710, "first API port")
	bin := fs.String("node-bin", "", "node binary taking trent server's flags (default: this executable's server command)")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{msg: err.Error(), help: devUsage}
	}
	if *n < 1 || *n > 9 {
		return &usageError{msg: "--nodes must be 1 to 9", help: devUsage}
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	// node is the node command: the binary and the arguments before the
	// flags.
	node := []string{*bin}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("cannot find this executable to run its server command (pass --node-bin): %w", err)
		}
		node = []string{exe, "server"}
	}

	var nodes []*devNode
	defer func() {
		procs := make([]*nodeproc.Process, len(nodes))
		for i, nd := range nodes {
			procs[i] = nd.proc
		}
		nodeproc.StopAll(procs, 10*time.Second)
	}()

	first := filepath.Join(abs, "n1")
	admin := filepath.Join(first, "admin")
	for i := 1; i <= *n; i++ {
		nd := &devNode{ID: fmt.Sprintf("n%d", i), DataDir: filepath.Join(abs, fmt.Sprintf("n%d", i)),
			APIAddr: fmt.Sprintf("127.0.0.1:%d", *base+10*(i-1)), RaftAddr: fmt.Sprintf("127.0.0.1:%d", *base+10*(i-1)+1),
			GossipAddr: fmt.Sprintf("127.0.0.1:%d", *base+10*(i-1)+2)}
		nd.args = []string{"--data-dir", nd.DataDir, "--node-id", nd.ID, "--api-addr", nd.APIAddr, "--raft-addr", nd.RaftAddr,
			"--gossip-addr", nd.GossipAddr}
		startArgs := nd.args
		if i > 1 {
			if _, err := os.Stat(filepath.Join(nd.DataDir, "raft", "raft.db")); err != nil {
				tok, err := c.devJoinToken(ctx, g, nodes[0].APIAddr, admin)
				if err != nil {
					return err
				}
				startArgs = append(append([]string(nil), nd.args...), "--join", nodes[0].APIAddr, "--join-token", tok)
			}
		}
		err := startDevNode(ctx, node, nd, startArgs)
		if nd.proc != nil {
			nodes = append(nodes, nd) // stopped on return either way
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "started %s (pid %d) on https://%s\n", nd.ID, nd.PID, nd.APIAddr)
	}
	if err := c.waitVoters(ctx, g, admin, nodes[0].APIAddr, *n); err != nil {
		return err
	}
	info := devClusterFile{Nodes: nodes, CA: filepath.Join(admin, "ca.pem"), AdminCert: filepath.Join(admin, "cert.pem"), AdminKey: filepath.Join(admin, "key.pem")}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(abs, "cluster.json"), append(b, '\n'), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%-4s %-8s %-18s %s\n", "ID", "PID", "API", "RESTART WITH")
	for _, nd := range nodes {
		fmt.Fprintf(c.stdout, "%-4s %-8d %-18s %s %s\n", nd.ID, nd.PID, nd.APIAddr, strings.Join(node, " "), strings.Join(nd.args, " "))
	}
	fmt.Fprintf(c.stdout, "cluster ready: %s/cluster.json; use --data-dir %s with trent. Ctrl-C stops the cluster.\n", abs, first)
	<-ctx.Done()
	fmt.Fprintln(c.stderr, "stopping the cluster ...")
	return nil
}

// startDevNode starts one node process, node (a binary and its first
// arguments) followed by args, and waits until it serves.
func startDevNode(ctx context.Context, node []string, nd *devNode, args []string) error {
	if err := os.MkdirAll(nd.DataDir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(nd.DataDir, "node.log")
	p, err := nodeproc.Start(exec.Command(node[0], append(node[1:len(node):len(node)], args...)...), logPath, "")
	if err != nil {
		return fmt.Errorf("start %s: %w", nd.ID, err)
	}
	nd.proc, nd.PID = p, p.PID()
	err = p.WaitServing(ctx, 60*time.Second)
	switch {
	case errors.Is(err, nodeproc.ErrExited):
		return fmt.Errorf("%s exited during start (%v); its log:\n%s", nd.ID, p.Err(), p.LogTail(15))
	case errors.Is(err, nodeproc.ErrNotServing):
		return fmt.Errorf("%s did not start within 60s; see %s", nd.ID, logPath)
	}
	return err
}

func (c *command) devGlobals(g *globals, adminDir string) *globals {
	gg := *g
	gg.dataDir, gg.ca, gg.cert, gg.key = "", filepath.Join(adminDir, "ca.pem"), filepath.Join(adminDir, "cert.pem"), filepath.Join(adminDir, "key.pem")
	return &gg
}

func (c *command) devJoinToken(ctx context.Context, g *globals, api, adminDir string) (string, error) {
	cl, err := c.clusterClient(c.devGlobals(g, adminDir), api)
	if err != nil {
		return "", err
	}
	r, err := cl.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{TtlSeconds: 600})
	if err != nil {
		return "", &callError{op: "CreateJoinToken", err: err}
	}
	return r.Token, nil
}

// waitVoters waits until the cluster has n voters and a leader.
func (c *command) waitVoters(ctx context.Context, g *globals, adminDir, api string, n int) error {
	cl, err := c.clusterClient(c.devGlobals(g, adminDir), api)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := cl.Status(ctx, &clusterv1.StatusRequest{})
		if err == nil {
			voters, leader := 0, false
			for _, nd := range st.Nodes {
				if nd.Voter {
					voters++
				}
				leader = leader || nd.Role == "leader"
			}
			if voters == n && leader {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the cluster did not reach its voters and a leader within 60s")
}
