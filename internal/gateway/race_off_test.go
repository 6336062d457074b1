//go:build !race

package gateway

// raceEnabled: the race detector grows heaps and stacks and its
// instrumentation allocates, so memory bounds and allocation counts are
// checked only without it.
const raceEnabled = false
