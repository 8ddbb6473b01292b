package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/trentkms/trent/backup"
)

const snapshotUsage = `usage: trent snapshot <verb> [options] FILE

Verbs:
  save FILE             save a backup of the cluster's replicated state,
                        streamed from the leader (admin only): keys (as EKTs,
                        never plaintext material), grants, aliases, IAM and
                        policies, with a SHA-256 checksum; FILE is written
                        atomically
  inspect FILE          verify FILE's checksum and print what it holds
  restore --force FILE  make FILE the state of the running cluster, through
                        raft on the leader (admin only): every key, grant and
                        alias is replaced; the cluster's HSMs must hold the
                        domain key the backup was saved under
                        (docs/operations.md, "Backup and restore")
`

// snapshotPath is the node's backup route (server/backup.go).
const snapshotPath = "/v1/snapshot"

func (c *command) snapshot(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] == "help" || g.help {
		fmt.Fprint(c.stdout, snapshotUsage)
		return nil
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	force := fs.Bool("force", false, "confirm replacing the running cluster's state")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{msg: err.Error(), help: snapshotUsage}
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "snapshot " + args[0] + ": want one FILE", help: snapshotUsage}
	}
	file := fs.Arg(0)
	switch args[0] {
	case "save":
		return c.snapshotSave(ctx, g, file)
	case "inspect":
		return c.snapshotInspect(g, file)
	case "restore":
		if !*force {
			return &usageError{msg: "snapshot restore replaces every key, grant and alias of the running cluster: confirm with --force", help: snapshotUsage}
		}
		return c.snapshotRestore(ctx, g, file)
	}
	return &usageError{msg: fmt.Sprintf("unknown snapshot verb %q (valid: save, inspect, restore)", args[0]), help: snapshotUsage}
}

// snapshotCall sends a request to the node's snapshot route, and once more
// to the leader the node names if it is not the leader.
func (c *command) snapshotCall(ctx context.Context, g *globals, method, query string, body io.ReadSeeker) (*http.Response, error) {
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return nil, err
	}
	hc, err := t.httpClient(g.connectTimeout)
	if err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, method, t.baseURL+snapshotPath+query, nil)
		if err != nil {
			return nil, err
		}
		if body != nil {
			n, err := body.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, err
			}
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			req.Body, req.ContentLength = io.NopCloser(body), n
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		leader := resp.Header.Get("Trent-Leader")
		if resp.StatusCode == http.StatusServiceUnavailable && leader != "" && try == 0 {
			if t.baseURL, t.serverName, err = parseEndpoint(leader); err != nil {
				return nil, err
			}
			if hc, err = t.httpClient(g.connectTimeout); err != nil {
				return nil, err
			}
			continue
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, t.baseURL+snapshotPath, resp.Status, bytes.TrimSpace(msg))
	}
}

func (c *command) snapshotSave(ctx context.Context, g *globals, file string) error {
	resp, err := c.snapshotCall(ctx, g, http.MethodGet, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	pw := &progressWriter{w: tmp, out: c.stderr, every: time.Second, start: time.Now()}
	if _, err := io.Copy(pw, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot save: %v", err)
	}
	pw.done()
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Verify what was written before it replaces FILE: a stream cut short
	// lacks its checksum.
	info, err := inspectFile(tmp.Name())
	if err != nil {
		return fmt.Errorf("snapshot save: the saved stream is not a valid backup: %v", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		d.Sync()
		d.Close()
	}
	return c.printSnapshotInfo(g, info)
}

func (c *command) snapshotInspect(g *globals, file string) error {
	info, err := inspectFile(file)
	if err != nil {
		return err
	}
	return c.printSnapshotInfo(g, info)
}

func (c *command) snapshotRestore(ctx context.Context, g *globals, file string) error {
	if _, err := inspectFile(file); err != nil {
		return fmt.Errorf("snapshot restore: %v", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	resp, err := c.snapshotCall(ctx, g, http.MethodPut, "?force=true", f)
	if err != nil {
		return fmt.Errorf("snapshot restore: %v", err)
	}
	resp.Body.Close()
	fmt.Fprintf(c.stderr, "restored %s\n", file)
	return nil
}

// snapshotInfo is what inspect prints.
type snapshotInfo struct {
	FormatVersion     uint32
	ClusterId         string
	NodeId            string
	AppliedIndex      uint64
	Term              uint64
	Created           string
	DomainKeyId       string
	Size              int64
	Sha256            string
	Keys              int
	Grants            int
	Aliases           int
	Users             int
	AccessKeys        int
	Roles             int
	PrincipalPolicies int
	Nodes             int
}

// inspectFile verifies a backup file and counts what it holds.
func inspectFile(file string) (*snapshotInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	v, err := backup.Open(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	h := v.Header
	n := h.Counts
	return &snapshotInfo{FormatVersion: h.Version, ClusterId: h.ClusterID, NodeId: h.NodeID, AppliedIndex: h.Applied,
		Term: h.Term, Created: h.Created.UTC().Format(time.RFC3339), DomainKeyId: h.DomainKeyID, Size: st.Size(),
		Sha256: hex.EncodeToString(v.Sum[:]), Keys: n.Keys, Grants: n.Grants, Aliases: n.Aliases, Users: n.Users,
		AccessKeys: n.AccessKeys, Roles: n.Roles, PrincipalPolicies: n.PrincipalPolicies, Nodes: n.Nodes}, nil
}

func (c *command) printSnapshotInfo(g *globals, info *snapshotInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	v, err := decodeOrdered(b)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(c.stdout)
	if g.output == "text" {
		writeText(bw, v, "", nil)
	} else {
		writeJSON(bw, v, 0)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// progressWriter reports the bytes written to out at most every interval.
type progressWriter struct {
	w           io.Writer
	out         io.Writer
	every       time.Duration
	start, last time.Time
	n           int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= p.every && now.Sub(p.start) >= p.every {
		p.last = now
		fmt.Fprintf(p.out, "snapshot: %d bytes saved\n", p.n)
	}
	return n, err
}

// done reports the total if progress was reported.
func (p *progressWriter) done() {
	if !p.last.IsZero() {
		fmt.Fprintf(p.out, "snapshot: %d bytes saved in %s\n", p.n, time.Since(p.start).Round(time.Millisecond))
	}
}
