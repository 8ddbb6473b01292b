// Package fsm is Trent's replicated state machine: the commands that change
// the key store, their deterministic application, the read side used by the
// kms package, and the snapshot format.
//
// # Commands
//
// Each command is a type implementing [Command] (CreateKey, CreateGrant,
// RevokeCert, ...), with its own validate and apply, declared beside the
// state it changes; command.go's registry maps every [Op] to its type. A
// log entry is a version byte and the JSON envelope
// {"op": "CreateGrant", "create_grant": {...}}; [Encode] and [Decode]
// build it from the registry, and testdata/commands-v1.golden holds
// entries of every command that each later release must still decode and
// apply identically. To add a command: its Op constant, its type with
// Op, validate and apply, its registry line, and a line in the golden
// file; TestRegistry fails when the registry and the Op constants differ.
//
// Services propose through [Apply], the one write path: it encodes the
// command, proposes it to a [Log] (raft.Node, cluster.Cluster), and
// returns the *Result, or the *Rejection as the error when the command
// was refused; each service translates rejections into its own errors.
//
// # Determinism
//
// [FSM.Apply] is a pure function of the current state and the command. It
// reads no clock, draws no randomness, calls no HSM and does no I/O: key
// ids, timestamps and wrapped key material (exported key tokens) are chosen
// by the proposer and carried in the command. Every node therefore reaches
// the same state at the same log index. Rules that must not race, such as
// "a key pending deletion cannot be enabled", "an alias name is taken
// once per account", "a key has at most 50 tags" or "a key is deleted
// once, and only once its waiting period ended" (DeleteKey carries the
// proposing leader's time), are decided here, at apply time, and a
// refused command yields a [*Rejection] carrying the AWS error name,
// never a partial change. Apply touches no HSM; the server hears of
// deleted keys through [FSM.OnKeysDeleted] to drop what its HSM cached.
//
// # The log
//
// The package knows nothing of consensus and imports no raft: the log
// hands it committed entries as [Entry] values ([FSM.ApplyBatch], which
// returns one response per entry), takes a [Snapshot] that persists to an
// io.Writer, and restores from an io.Reader. Package raft defines the
// other side, raft.StateMachine, and adapts it to hashicorp/raft (its log
// types, its snapshot sinks); the server joins the two. An entry that
// changes the log's membership carries no command: applying it only
// advances the applied index.
//
// # Concurrency
//
// Raft calls ApplyBatch, Snapshot and Restore from one goroutine.
// Reads ([FSM.Key], [FSM.ListKeys], ...) may run concurrently with them; the
// state is guarded by a read-write mutex and stored in copy-on-write B-trees,
// so a snapshot is an O(1) clone that is persisted while Apply goes on.
// Stored values are immutable once published: Apply replaces, never edits.
//
// # Snapshots
//
// A snapshot is the magic "TRENTFSM", a big-endian uint32 format version and
// a stream of JSON records; see snapshot.go. Restore builds the new state
// aside and swaps it in whole.
package fsm
