package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trentkms/trent/backup"
	"github.com/trentkms/trent/cli"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// trentCLI runs the trent command against s with the admin credentials
// of adminDir, and returns its exit code, stdout and stderr.
func trentCLI(t *testing.T, adminDir, endpoint string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--data-dir", adminDir, "--endpoint", endpoint}, args...)
	code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// copyDir copies the regular files of src into dst (made 0700), keeping
// their modes: the soft HSM's sealed state and dev-mode key file.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

type sealed struct {
	keyID string
	plain []byte
	blob  []byte
}

// TestSnapshotSaveDestroyRestore is the disaster-recovery drill of
// docs/operations.md: a backup saved (through a follower, which sends the
// CLI to the leader) from a 3-node cluster under load; the cluster
// destroyed; a fresh 3-node cluster started on a copy of the old
// bootstrap node's HSM state (the backed-up domain key) and the backup
// restored onto it: every acknowledged ciphertext decrypts on every node,
// and the grant works.
func TestSnapshotSaveDestroyRestore(t *testing.T) {
	ctx := context.Background()
	old := startCluster(t)
	admin := old.kms(t, 0)
	var keys []*kmsv1.KeyMetadata
	for range 3 {
		ck, err := admin.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "backed up"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ck.KeyMetadata)
	}
	const bob = "arn:aws:iam::111122223333:user/bob"
	g, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keys[0].KeyId, GranteePrincipal: bob, Operations: []string{"Encrypt", "Decrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	old.principalHTTP(t, bob)
	ak, err := iamAs(old.nodes[0], adminHTTP(t, old.adminDir)).CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}

	// Load: encryptions through every node while the backup is saved.
	var (
		mu    sync.Mutex
		acked []sealed
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for i := range old.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := old.kms(t, i)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := keys[n%len(keys)]
				plain := []byte(strings.Repeat("x", n%40) + key.KeyId)
				r, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: key.KeyId, Plaintext: plain})
				if err != nil {
					continue // not acknowledged
				}
				mu.Lock()
				acked = append(acked, sealed{key.KeyId, plain, r.CiphertextBlob})
				mu.Unlock()
			}
		}()
	}
	file := filepath.Join(t.TempDir(), "trent.snap")
	code, out, stderr := trentCLI(t, old.adminDir, old.nodes[2].APIAddr(), "snapshot", "save", file)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("snapshot save: %d %s", code, stderr)
	}
	if !strings.Contains(out, `"Keys": 3`) || !strings.Contains(out, `"Grants": 1`) {
		t.Fatalf("snapshot save printed %s", out)
	}
	if len(acked) == 0 {
		t.Fatal("no encryption was acknowledged under load")
	}
	if code, out, stderr := trentCLI(t, old.adminDir, old.nodes[0].APIAddr(), "snapshot", "inspect", file); code != 0 || !strings.Contains(out, `"Users": 1`) {
		t.Fatalf("snapshot inspect: %d %s %s", code, out, stderr)
	}

	// Destroy the cluster; keep the bootstrap node's HSM state, as the
	// operator backed it up.
	hsmDir := filepath.Join(old.nodes[0].DataDir(), "hsm")
	first := t.TempDir()
	copyDir(t, hsmDir, filepath.Join(first, "hsm"))
	for _, n := range old.nodes {
		n.Close()
	}

	fresh := startClusterAt(t, first)
	// Without --force the CLI refuses, and changes nothing.
	if code, _, stderr := trentCLI(t, fresh.adminDir, fresh.nodes[0].APIAddr(), "snapshot", "restore", file); code != 2 || !strings.Contains(stderr, "--force") {
		t.Fatalf("restore without --force: %d %s", code, stderr)
	}
	if code, _, stderr := trentCLI(t, fresh.adminDir, fresh.nodes[1].APIAddr(), "snapshot", "restore", "--force", file); code != 0 {
		t.Fatalf("snapshot restore: %d %s", code, stderr)
	}
	for i := range fresh.nodes {
		k := fresh.kms(t, i)
		waitFor(t, onNode("the restored keys", i), 10*time.Second, func() error {
			_, err := k.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keys[2].KeyId})
			return err
		}, fresh.nodes...)
		for _, s := range acked {
			r, err := k.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: s.blob})
			if err != nil {
				t.Fatalf("node %d: an acknowledged ciphertext of %s does not decrypt: %v", i, s.keyID, err)
			}
			if !bytes.Equal(r.Plaintext, s.plain) || r.KeyId != arnOf(keys, s.keyID) {
				t.Fatalf("node %d: decrypted %q under %s", i, r.Plaintext, r.KeyId)
			}
		}
	}
	// The grant works: bob (restored with IAM) gets a certificate from the
	// new CA and encrypts under it, with no key policy naming him.
	bobHTTP := clientForPrincipal(t, fresh.nodes[0], fresh.adminDir, bob)
	for i, n := range fresh.nodes {
		waitFor(t, onNode("bob's certificate", i), 10*time.Second, func() error {
			_, err := client(t, n, bobHTTP).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[0].Arn, Plaintext: []byte("granted"),
				GrantTokens: []string{g.GrantToken}})
			return err
		}, fresh.nodes...)
	}
	if _, err := client(t, fresh.nodes[0], bobHTTP).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[1].Arn, Plaintext: []byte("x")}); err == nil {
		t.Fatal("bob encrypted under a key no grant gives him")
	}
	// So does bob's access key, whose secret the same domain key derives.
	var underGrant []byte
	for _, s := range acked {
		if s.keyID == keys[0].KeyId {
			underGrant = s.blob
		}
	}
	if underGrant == nil {
		t.Fatal("no acknowledged ciphertext under the granted key")
	}
	for i, n := range fresh.nodes {
		sdk := awsClient(t, n, fresh.adminDir, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey)
		if _, err := sdk.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: underGrant}); err != nil {
			t.Fatalf("node %d: bob's restored access key and grant: %v", i, err)
		}
	}
	// The restored cluster keeps writing.
	if _, err := fresh.kms(t, 2).CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatalf("CreateKey after the restore: %v", err)
	}
}

func arnOf(keys []*kmsv1.KeyMetadata, id string) string {
	for _, k := range keys {
		if k.KeyId == id {
			return k.Arn
		}
	}
	return ""
}

// TestSnapshotRestoreRefusesBadBackups: a damaged file is refused by
// inspect, by the CLI's restore and by the node itself; a backup of a
// cluster with another domain key is refused by the node, naming both
// keys; neither changes the state.
func TestSnapshotRestoreRefusesBadBackups(t *testing.T) {
	ctx := context.Background()
	srcDir, dstDir := t.TempDir(), t.TempDir()
	src := start(t, srcDir)
	defer src.Close()
	if _, err := client(t, src, adminHTTP(t, srcDir)).CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "src.snap")
	if code, _, stderr := trentCLI(t, srcDir, src.APIAddr(), "snapshot", "save", file); code != 0 {
		t.Fatalf("save: %s", stderr)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(good)
	damaged[len(damaged)/2] ^= 0x20
	bad := filepath.Join(t.TempDir(), "damaged.snap")
	if err := os.WriteFile(bad, damaged, 0o600); err != nil {
		t.Fatal(err)
	}

	dst := start(t, dstDir)
	defer dst.Close()
	dstKMS := client(t, dst, adminHTTP(t, dstDir))
	before := dst.AppliedIndex()
	put := func(body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, "https://"+dst.APIAddr()+"/v1/snapshot?force=true", bytes.NewReader(body))
		resp, err := adminHTTP(t, dstDir).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	for _, tc := range []struct {
		name string
		run  func() (int, string)
		want string
	}{
		{"inspect damaged", func() (int, string) {
			code, _, stderr := trentCLI(t, dstDir, dst.APIAddr(), "snapshot", "inspect", bad)
			return code, stderr
		}, "checksum mismatch"},
		{"restore damaged (CLI)", func() (int, string) {
			code, _, stderr := trentCLI(t, dstDir, dst.APIAddr(), "snapshot", "restore", "--force", bad)
			return code, stderr
		}, "checksum mismatch"},
		{"restore damaged (node)", func() (int, string) { return put(damaged) }, "checksum mismatch"},
		{"restore truncated (node)", func() (int, string) { return put(good[:len(good)-7]) }, "checksum mismatch"},
		{"wrong domain key (CLI)", func() (int, string) {
			code, _, stderr := trentCLI(t, dstDir, dst.APIAddr(), "snapshot", "restore", "--force", file)
			return code, stderr
		}, "wrong domain key"},
		{"wrong domain key (node)", func() (int, string) { return put(good) }, "wrong domain key"},
		{"counts that do not describe the snapshot (node)", func() (int, string) {
			// The destination's own backup, its header's counts changed
			// and its checksum made anew: only the counts are wrong.
			own := filepath.Join(t.TempDir(), "own.snap")
			if code, _, stderr := trentCLI(t, dstDir, dst.APIAddr(), "snapshot", "save", own); code != 0 {
				t.Fatalf("save: %s", stderr)
			}
			data, err := os.ReadFile(own)
			if err != nil {
				t.Fatal(err)
			}
			h, payload, err := backup.Read(data)
			if err != nil {
				t.Fatal(err)
			}
			h.Counts.Keys++
			var forged bytes.Buffer
			if err := backup.Write(&forged, h, func(w io.Writer) error { _, err := w.Write(payload); return err }); err != nil {
				t.Fatal(err)
			}
			before = dst.AppliedIndex()
			return put(forged.Bytes())
		}, "counts differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := tc.run()
			if code == 0 || code == http.StatusNoContent || !strings.Contains(msg, tc.want) {
				t.Fatalf("got %d %q; want a refusal saying %q", code, msg, tc.want)
			}
		})
	}
	if dst.AppliedIndex() != before {
		t.Fatalf("a refused restore changed the state: applied %d, was %d", dst.AppliedIndex(), before)
	}
	// Only the admin saves or restores: an IAM user of the account may not.
	eve := clientForPrincipal(t, dst, dstDir, "arn:aws:iam::111122223333:user/eve")
	before = dst.AppliedIndex()
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		req, _ := http.NewRequest(method, "https://"+dst.APIAddr()+"/v1/snapshot?force=true", bytes.NewReader(good))
		resp, err := eve.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || bytes.HasPrefix(body, []byte("TRENTBAK")) {
			t.Fatalf("%s by a non-admin user: %d %.40q", method, resp.StatusCode, body)
		}
	}
	if dst.AppliedIndex() != before {
		t.Fatalf("a refused non-admin call changed the state: applied %d, was %d", dst.AppliedIndex(), before)
	}
	l, err := dstKMS.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	if err != nil || len(l.Keys) != 0 {
		t.Fatalf("keys after refused restores: %v %v", l, err)
	}
}

// TestSnapshotRestoreRollsBackARunningCluster: restored onto the cluster it
// was saved from, a backup brings back the keys it holds and drops the
// ones created since, and a certificate revoked since stays revoked.
func TestSnapshotRestoreRollsBackARunningCluster(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	k := client(t, s, adminHTTP(t, dir))
	kept, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rootHC, cert := issueRoot(t, dir)
	file := filepath.Join(t.TempDir(), "before.snap")
	if code, _, stderr := trentCLI(t, dir, s.APIAddr(), "snapshot", "save", file); code != 0 {
		t.Fatalf("save: %s", stderr)
	}
	since, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, s, dir, cert)
	if code, _, stderr := trentCLI(t, dir, s.APIAddr(), "snapshot", "restore", "--force", file); code != 0 {
		t.Fatalf("restore: %s", stderr)
	}
	if _, err := k.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: kept.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("the backed-up key after the restore: %v", err)
	}
	if _, err := k.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: since.KeyMetadata.KeyId}); errorType(err) != "NotFoundException" {
		t.Fatalf("a key created after the backup, after the restore: %v", err)
	}
	if _, err := client(t, s, rootHC).ListKeys(ctx, &kmsv1.ListKeysRequest{}); errorType(err) != "UnrecognizedClientException" {
		t.Fatalf("a certificate revoked after the backup, after the restore: %v", err)
	}
}
