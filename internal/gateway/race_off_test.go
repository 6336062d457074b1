//go:build !race

package gateway

// raceEnabled: the race detector grows heaps and stacks, so memory
// bounds are checked only without it.
const raceEnabled = false
