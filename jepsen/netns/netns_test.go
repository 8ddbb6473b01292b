package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as a helper process: run inside a namespace with
// ip netns exec, it listens on or dials an address.
func TestMain(m *testing.M) {
	switch os.Getenv("NETNS_TEST_HELPER") {
	case "listen":
		ln, err := net.Listen("tcp", os.Getenv("NETNS_TEST_ADDR"))
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("listening")
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			c.Close()
		}
	case "dial":
		if err := dial(os.Getenv("NETNS_TEST_ADDR")); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper runs this test binary as a helper in node i's namespace.
func helper(nt *Net, i int, mode, addr string) *exec.Cmd {
	cmd := nt.Command(i, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETNS_TEST_HELPER="+mode, "NETNS_TEST_ADDR="+addr)
	return cmd
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err
}

func TestPartitionAndCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	const prefix = "jptest"
	_ = Cleanup(ctx, prefix)
	nt, err := Setup(ctx, prefix, "10.214.0", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Cleanup(ctx, prefix) })

	target := net.JoinHostPort(nt.Addr(1), "9000")
	ln := helper(nt, 1, "listen", target)
	stdout, err := ln.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() { _ = ln.Process.Kill(); <-exited }()
	go func() { exited <- ln.Wait() }()
	buf := make([]byte, 64)
	if n, _ := stdout.Read(buf); !strings.Contains(string(buf[:n]), "listening") {
		t.Fatalf("helper did not listen: %q", buf[:n])
	}
	fromNode0 := func() error {
		out, err := helper(nt, 0, "dial", target).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	steps := []struct {
		name        string
		do          func() error
		node0, host bool // whether node 0 and the host reach node 1
	}{
		{"connected", func() error { return nil }, true, true},
		{"partitioned", func() error { return nt.Partition(ctx, map[int][]int{0: {1}, 1: {0}}) }, false, true},
		{"healed", func() error { return nt.Heal(ctx) }, true, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			if err := fromNode0(); (err == nil) != s.node0 {
				t.Errorf("node 0 -> node 1: %v, want reachable=%v", err, s.node0)
			}
			if err := dial(target); (err == nil) != s.host {
				t.Errorf("host -> node 1: %v, want reachable=%v", err, s.host)
			}
		})
	}

	// Teardown also ends what still runs in the namespaces (the listener).
	if err := nt.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		exited <- nil // for the deferred wait
	case <-time.After(10 * time.Second):
		t.Fatal("the process in the namespace survived Teardown")
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	if strings.Contains(string(out), prefix) || strings.Contains(string(links), prefix) {
		t.Fatalf("left behind:\n%s\n%s", out, links)
	}
}

func TestSetupRejects(t *testing.T) {
	for _, tt := range []struct {
		prefix, subnet string
		n              int
	}{
		{"", "10.214.0", 3}, {"muchtoolongprefix", "10.214.0", 3}, {"jp", "10.214", 3}, {"jp", "10.214.0", 0},
	} {
		t.Run(fmt.Sprintf("%s_%s_%d", tt.prefix, tt.subnet, tt.n), func(t *testing.T) {
			if _, err := Setup(context.Background(), tt.prefix, tt.subnet, tt.n); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
