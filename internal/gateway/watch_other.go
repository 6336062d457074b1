//go:build !linux

package gateway

// clientWatcher: elsewhere each parked stream watches its client with a
// goroutine of its own (parking.watch).
type clientWatcher struct{}

func (*clientWatcher) add(*parking) bool { return false }
func (*clientWatcher) remove(*parking)   {}
