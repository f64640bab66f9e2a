//go:build race

package snapshot

// raceDetector: the race detector's shadow memory and slowdown swamp what the memory-bound
// tests measure; they run in make test's pass without it.
const raceDetector = true
