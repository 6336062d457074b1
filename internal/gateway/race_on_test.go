//go:build race

package gateway

// raceEnabled: the race detector's instrumentation allocates, so
// allocation counts are pinned only without it.
const raceEnabled = true
