//go:build race

package instance_test

// raceDetector: some tests here are bound by memory (a heap measured before and after) or by
// argon2 in a loop of logins with no concurrency of their own; the race detector swamps the
// first and slows the second 2.5× without anything to find. They run in make test's pass
// without it (the Makefile's second `go test` runs this package again).
const raceDetector = true
