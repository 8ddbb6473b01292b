// Package netns gives each node of a test cluster its own Linux network
// namespace with its own address on a private bridge, and partitions the
// nodes with blackhole routes inside the namespaces. It needs root. Every
// object it makes carries its name prefix, so Cleanup can remove what a
// crashed run left behind without touching anything else.
package netns

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Net is a bridge with one namespace per node. Node i (0-based) has the
// address Subnet.(i+1); the host side of the bridge has Subnet.254, from
// which the test's clients reach every node.
type Net struct {
	prefix string
	subnet string // the first three octets, e.g. "10.213.0"
	n      int

	mu    sync.Mutex
	holes map[[2]int]bool // blackhole routes: in node a's namespace, to node b
}

// Available reports whether namespaces can be made here (root, ip on PATH).
func Available() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip command (iproute2) is needed: %w", err)
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns list: %v: %s", err, out)
	}
	return nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Setup makes the bridge and n namespaces. prefix names them (at most 8
// characters, letters and digits) and subnet is a /24 given as its first
// three octets. On error it removes what it made.
func Setup(ctx context.Context, prefix, subnet string, n int) (*Net, error) {
	if len(prefix) == 0 || len(prefix) > 8 {
		return nil, fmt.Errorf("netns prefix %q must be 1 to 8 characters", prefix)
	}
	if ipa := net.ParseIP(subnet + ".1").To4(); ipa == nil {
		return nil, fmt.Errorf("subnet %q is not the first three octets of an IPv4 /24", subnet)
	}
	if n < 1 || n > 250 {
		return nil, fmt.Errorf("%d nodes: want 1 to 250", n)
	}
	nt := &Net{prefix: prefix, subnet: subnet, n: n, holes: map[[2]int]bool{}}
	steps := [][]string{
		{"link", "add", nt.bridge(), "type", "bridge"},
		{"addr", "add", subnet + ".254/24", "dev", nt.bridge()},
		{"link", "set", nt.bridge(), "up"},
	}
	for i := 0; i < n; i++ {
		ns := nt.NS(i)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"link", "add", nt.veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"link", "set", nt.veth(i), "master", nt.bridge(), "up"},
			[]string{"-n", ns, "addr", "add", nt.Addr(i) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			Cleanup(context.WithoutCancel(ctx), prefix)
			return nil, err
		}
	}
	return nt, nil
}

func (nt *Net) bridge() string    { return nt.prefix + "br0" }
func (nt *Net) veth(i int) string { return fmt.Sprintf("%sv%d", nt.prefix, i+1) }

// NS is the name of node i's namespace.
func (nt *Net) NS(i int) string { return fmt.Sprintf("%s-n%d", nt.prefix, i+1) }

// Addr is node i's IP address.
func (nt *Net) Addr(i int) string { return fmt.Sprintf("%s.%d", nt.subnet, i+1) }

// Command returns a command that runs bin in node i's namespace. ip netns
// exec execs bin in place, so the process id is bin's own.
func (nt *Net) Command(i int, bin string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", nt.NS(i), bin}, args...)...)
}

// Partition cuts the links in grudge: for each node a, the nodes b in
// grudge[a] can no longer be reached from a (add both directions for a
// symmetric cut). Clients on the host keep reaching every node.
func (nt *Net) Partition(ctx context.Context, grudge map[int][]int) error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	for a, bs := range grudge {
		for _, b := range bs {
			if a == b || nt.holes[[2]int{a, b}] {
				continue
			}
			if err := ip(ctx, "-n", nt.NS(a), "route", "add", "blackhole", nt.Addr(b)+"/32"); err != nil {
				return err
			}
			nt.holes[[2]int{a, b}] = true
		}
	}
	return nil
}

// Heal removes every cut.
func (nt *Net) Heal(ctx context.Context) error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	var errs []string
	for h := range nt.holes {
		if err := ip(ctx, "-n", nt.NS(h[0]), "route", "del", "blackhole", nt.Addr(h[1])+"/32"); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		delete(nt.holes, h)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("heal: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Teardown removes the namespaces and the bridge.
func (nt *Net) Teardown(ctx context.Context) error { return Cleanup(ctx, nt.prefix) }

// Cleanup removes every namespace named prefix-* and every link named
// prefix*: what this package made, now or in a crashed earlier run. A
// process still running in one of those namespaces (a node of a crashed
// run) is killed first.
func Cleanup(ctx context.Context, prefix string) error {
	var errs []string
	if out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], prefix+"-n") {
				// Processes left in our namespace by a crashed run are
				// ours (nodes); they would outlive the namespace's name.
				if pids, err := exec.CommandContext(ctx, "ip", "netns", "pids", f[0]).Output(); err == nil {
					for _, p := range strings.Fields(string(pids)) {
						if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
							_ = syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				}
				if err := ip(ctx, "netns", "del", f[0]); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if strings.HasPrefix(name, prefix+"v") || name == prefix+"br0" {
				if err := ip(ctx, "link", "del", name); err != nil && !strings.Contains(err.Error(), "Cannot find") {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("netns cleanup: %s", strings.Join(errs, "; "))
	}
	return nil
}
