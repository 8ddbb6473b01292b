// Package deptest holds the layering rules of docs/architecture.md as a
// test that reads the import graph, so the promises there cannot rot
// silently (tailscale's dependency checker is the model).
//
// The test runs "go list -deps -json" over the module and checks every
// rule against the graph; a rule names the packages it binds, the packages
// they must not reach through any chain of imports, and, for the binaries
// that speak only the public API, the only module packages they may
// import at all. A violation is reported with the chain of imports that
// breaks the rule.
//
// An import that breaks a rule and is being removed elsewhere is listed in
// knownViolations with the change that removes it. Such an edge is left out
// of the graph; an entry that no longer matches an import fails the test,
// so the list only ever shrinks.
//
// There is no non-test code here: the package exists for its test.
package deptest
