package soft

import (
	"crypto/rand"
	"io"
	"sync"
	"time"
)

// An Option configures [Create], [CreateWithoutDomain] and [Open].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	// random is the injected source, nil for crypto/rand.
	random       io.Reader
	argonTime    uint32
	argonMemory  uint32
	argonThreads uint8
	cacheSize    int
	observer     Observer
}

func newConfig(opts []Option) *config {
	c := &config{
		argonTime:    defaultArgonTime,
		argonMemory:  defaultArgonMem,
		argonThreads: defaultArgonPar,
		cacheSize:    defaultCacheSize,
	}
	for _, o := range opts {
		o.apply(c)
	}
	return c
}

// rand returns the source of randomness for secrets the HSM generates.
func (c *config) rand() io.Reader {
	if c.random == nil {
		return rand.Reader
	}
	return c.random
}

// Observer is told of each Seal, Open, GenerateKey and MAC: its duration
// and its error (nil if it succeeded). A call refused because its context
// ended is not reported.
type Observer interface {
	HSMDone(op string, d time.Duration, err error)
}

// WithObserver reports every Seal, Open, GenerateKey and MAC to o
// (metrics). The HSM times them itself, rather than a wrapper around it:
// Seal and Open run at the deepest point of a call's goroutine, and one
// more frame there makes its stack grow, and be copied, on many calls.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) { c.observer = o })
}

// start returns the start time of an operation to report, or the zero
// time when there is no observer.
func (c *config) start() time.Time {
	if c.observer == nil {
		return time.Time{}
	}
	return time.Now()
}

// done reports an operation that started at start.
func (c *config) done(op string, start time.Time, err error) {
	if c.observer != nil {
		c.observer.HSMDone(op, time.Since(start), err)
	}
}

// WithRand makes the HSM draw every random value it generates itself (key
// material, domain key, identity key seed, salts, IVs, Random output) from
// r instead of crypto/rand, for deterministic tests. r need not be safe for
// concurrent use. HPKE's ephemeral keys in [HSM.ExportDomain] always come
// from the Go cryptographic module's own generator.
func WithRand(r io.Reader) Option {
	return optionFunc(func(c *config) {
		c.random = &lockedReader{r: r}
	})
}

// WithArgon2 sets the Argon2id parameters used when [Passphrase] seals a
// new state file: time passes, memory in KiB and threads lanes. Opening a
// file always uses the parameters stored in it. Tests use tiny values;
// production should keep the defaults (3, 64 MiB, 4) or raise them.
func WithArgon2(time, memoryKiB uint32, threads uint8) Option {
	return optionFunc(func(c *config) {
		c.argonTime, c.argonMemory, c.argonThreads = time, memoryKiB, threads
	})
}

// WithCacheSize sets how many unwrapped key versions the HSM caches
// (default 1024; 0 disables the cache).
func WithCacheSize(n int) Option {
	return optionFunc(func(c *config) { c.cacheSize = max(n, 0) })
}

// lockedReader serializes reads from an injected reader.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
