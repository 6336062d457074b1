package tlsconfig

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is the least time between two checks of the files
// behind a TLS config. A check is a stat of each file; the files are read
// and parsed again only when one changed.
const DefaultReloadInterval = 2 * time.Second

// reloadLogInterval bounds how often the same reload failure is logged.
const reloadLogInterval = time.Minute

// reloader holds a value built from a few files and rebuilds it when one
// of the files changes (modification time, size, or the file itself, as
// when a Kubernetes Secret volume swaps its ..data symlink). Checks are
// lazy: get stats the files at most once per interval, on the caller's
// goroutine, so nothing runs while the listener is idle and nothing needs
// stopping. While one caller checks, others use the current value. A
// failed rebuild keeps the last good value and is retried at the next
// check.
type reloader[T any] struct {
	what     string // for logs: "listener certificate", ...
	files    []string
	build    func() (T, error)
	interval time.Duration
	log      *slog.Logger

	cur       atomic.Pointer[loaded[T]]
	nextCheck atomic.Int64 // unix nanoseconds
	mu        sync.Mutex   // held while checking

	// Guarded by mu.
	lastErr    string
	lastLogged time.Time
}

type loaded[T any] struct {
	val    T
	stamps []stamp
}

type stamp struct {
	info os.FileInfo // nil when the file could not be stat'ed
}

func (s stamp) same(o stamp) bool {
	if s.info == nil || o.info == nil {
		return false
	}
	return s.info.ModTime().Equal(o.info.ModTime()) && s.info.Size() == o.info.Size() && os.SameFile(s.info, o.info)
}

// newReloader builds the value once; an error here is the caller's error
// (the config cannot be applied).
func newReloader[T any](what string, files []string, interval time.Duration, log *slog.Logger, build func() (T, error)) (*reloader[T], error) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	if log == nil {
		log = slog.Default()
	}
	r := &reloader[T]{what: what, files: files, build: build, interval: interval, log: log}
	st := r.stat()
	v, err := build()
	if err != nil {
		return nil, err
	}
	r.cur.Store(&loaded[T]{val: v, stamps: st})
	r.nextCheck.Store(time.Now().Add(interval).UnixNano())
	return r, nil
}

func (r *reloader[T]) stat() []stamp {
	out := make([]stamp, len(r.files))
	for i, f := range r.files {
		if fi, err := os.Stat(f); err == nil {
			out[i] = stamp{fi}
		}
	}
	return out
}

// get returns the current value, first checking the files when the
// interval has passed.
func (r *reloader[T]) get() T {
	now := time.Now()
	if now.UnixNano() >= r.nextCheck.Load() && r.mu.TryLock() {
		r.check(now)
		r.mu.Unlock()
	}
	return r.cur.Load().val
}

// check runs with mu held.
func (r *reloader[T]) check(now time.Time) {
	if now.UnixNano() < r.nextCheck.Load() {
		return // another caller just checked
	}
	r.nextCheck.Store(now.Add(r.interval).UnixNano())
	cur := r.cur.Load()
	// Stat before reading: a change that lands after the stat is seen
	// (again) at the next check rather than missed.
	st := r.stat()
	changed := false
	for i := range st {
		if !st[i].same(cur.stamps[i]) {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	v, err := r.build()
	if err != nil {
		// Keep serving the last good material. Certificate and key are
		// often written one after the other, so a mismatch can be
		// transient; the stamps are not updated, so the next check tries
		// again.
		msg := err.Error()
		if msg != r.lastErr || now.Sub(r.lastLogged) >= reloadLogInterval {
			r.log.Warn("TLS files changed but could not be loaded; keeping the previous "+r.what, "err", msg)
			r.lastErr, r.lastLogged = msg, now
		}
		return
	}
	r.lastErr = ""
	r.cur.Store(&loaded[T]{val: v, stamps: st})
	r.log.Info("reloaded "+r.what, "files", fmt.Sprint(r.files))
}
