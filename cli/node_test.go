package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	nodev1 "github.com/trentkms/trent/gen/trent/node/v1"
	"github.com/trentkms/trent/gen/trent/node/v1/nodev1connect"
)

// fakeNode answers Unseal: the right secret unseals, any other is refused
// as a node refuses it.
type fakeNode struct {
	mu   sync.Mutex
	got  [][]byte // every secret received
	want string
}

func (f *fakeNode) Unseal(_ context.Context, req *nodev1.UnsealRequest) (*nodev1.UnsealResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, bytes.Clone(req.Secret))
	if string(req.Secret) != f.want {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("wrong passphrase or PIN: node n1's HSM did not open, and the node stays sealed"))
	}
	return &nodev1.UnsealResponse{NodeId: "n1"}, nil
}

// TestNodeUnsealReadsStdin: trent node unseal sends the first line of
// stdin without its line ending, says which node unsealed, reports a
// refusal, and never takes the secret from an argument.
func TestNodeUnsealReadsStdin(t *testing.T) {
	const pass = "correct horse battery staple"
	fake := &fakeNode{want: pass}
	c := newCreds(t)
	mux := http.NewServeMux()
	mux.Handle(nodev1connect.NewNodeServiceHandler(fake))
	url := serveMTLS(t, c, mux)
	for _, tt := range []struct {
		name, stdin string
		args        []string
		code        int
		sent        string // "" if nothing may be sent
		stdout      string
		stderr      string
	}{
		{"right", pass + "\n", nil, exitOK, pass, "unsealed n1\n", ""},
		{"CRLF and more lines", pass + "\r\nnext line\n", nil, exitOK, pass, "unsealed n1\n", ""},
		{"no newline", pass, nil, exitOK, pass, "unsealed n1\n", ""},
		{"wrong", "guess\n", nil, exitError, "guess", "", "wrong passphrase or PIN"},
		{"empty", "\n", nil, exitError, "", "", "no passphrase or PIN"},
		{"too long", strings.Repeat("x", maxSecret+1) + "\n", nil, exitError, "", "", "longer than 1024 bytes"},
		{"argument", pass + "\n", []string{pass}, exitUsage, "", "", "takes no arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake.mu.Lock()
			fake.got = nil
			fake.mu.Unlock()
			var out, errOut bytes.Buffer
			cmd := &command{stdin: strings.NewReader(tt.stdin), stdout: &out, stderr: &errOut,
				lookupEnv: func(string) (string, bool) { return "", false }}
			code := cmd.run(context.Background(), append([]string{"--endpoint", url, "--data-dir", c.dir, "node", "unseal"}, tt.args...))
			if code != tt.code || out.String() != tt.stdout || !strings.Contains(errOut.String(), tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderr)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			switch {
			case tt.sent == "" && len(fake.got) != 0:
				t.Errorf("sent %q; want nothing sent", fake.got)
			case tt.sent != "" && (len(fake.got) != 1 || string(fake.got[0]) != tt.sent):
				t.Errorf("sent %q; want exactly %q", fake.got, tt.sent)
			}
		})
	}
}
