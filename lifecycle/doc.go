// Package lifecycle runs the key work that time starts rather than a
// caller: on the leader, each pass walks every key and asks each [Task]
// whether the key is due (a deletion whose waiting period ended, a
// rotation whose period passed), then proposes the command the task
// returns through the one write path, fsm.Apply. After the keys, each
// [Sweep] may propose one command that tidies other state (the records of
// long-expired certificates).
//
// The pass reads the clock once, on the leader, and every command carries
// that time: the state machine never reads a clock. The state machine
// decides each command again at apply time, so a pass that races a
// leader change, a retry, or a caller (CancelKeyDeletion, DisableKeyRotation)
// changes nothing twice: a duplicate or stale proposal is refused there.
// A node that was down at the deadline learns of the action from the log
// like any other write, and never acts on its own. A task that fails for
// one key skips that key for the pass, not the keys after it.
package lifecycle
