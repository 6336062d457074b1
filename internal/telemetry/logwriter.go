package telemetry

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultLogBuffer bounds the log records waiting for the output.
const DefaultLogBuffer = 4 << 20

// LogWriter is the gateway's log output. Write copies a record into a
// bounded buffer and returns; one goroutine writes the buffer to the
// underlying writer. A request therefore never waits for a write system
// call, and records logged while a write is in progress leave together in
// the next one (under load, the access and audit records of many requests
// share one system call).
//
// There is no flush interval: the goroutine is woken by the first record
// written into an empty buffer and writes at once, so a record reaches the
// output a scheduler wake-up after it was logged (tests and `kubectl logs
// -f` read the output right after a request).
//
// When the output stalls and the buffer holds maxBuffered bytes, further
// records are dropped, never the request: Dropped counts them (exported as
// agentgateway_log_records_dropped_total), and once the output moves again
// the OnDrop callback (if set) is called with the number lost since the
// last call, so the loss shows in the log itself.
//
// Records written through Keep (audit records) are never dropped: past
// maxBuffered they are still queued, up to keepFactor times maxBuffered,
// and past that the caller waits for the output to move. An audit trail
// that silently loses a decision is worse than a request that waits.
//
// Close writes everything buffered and stops the goroutine; records
// written after it go straight to the output.
type LogWriter struct {
	out io.Writer
	max int
	// OnDrop, when set before the first Write, is called by the writing
	// goroutine (holding no lock) with the number of records dropped since
	// its last call. It may log: the record it writes is buffered like any
	// other.
	OnDrop func(n uint64)

	outMu sync.Mutex // serialises writes to out

	mu         sync.Mutex
	idle       sync.Cond // signalled when the buffer is empty and written
	room       sync.Cond // signalled when the goroutine takes the buffer
	buf        []byte    // records waiting for the goroutine
	busy       bool      // the goroutine has been woken and not yet drained
	closed     bool      // Close was called
	exited     bool      // the goroutine has returned (waiters on room are woken)
	unreported uint64    // drops not yet passed to OnDrop

	dropped atomic.Uint64
	wake    chan struct{}
	done    chan struct{}
}

// NewLogWriter returns a LogWriter writing to out and starts its
// goroutine. maxBuffered <= 0 means DefaultLogBuffer.
func NewLogWriter(out io.Writer, maxBuffered int) *LogWriter {
	if maxBuffered <= 0 {
		maxBuffered = DefaultLogBuffer
	}
	w := &LogWriter{out: out, max: maxBuffered, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.idle.L = &w.mu
	w.room.L = &w.mu
	go w.run()
	return w
}

// keepFactor bounds the records Keep queues past the buffer's bound
// before its callers wait.
const keepFactor = 4

// Write queues p, which slog handlers pass as one whole record. It never
// blocks on the output and never fails.
func (w *LogWriter) Write(p []byte) (int, error) { return w.write(p, false) }

// Keep returns a writer whose records are never dropped (see LogWriter).
func (w *LogWriter) Keep() io.Writer { return keepWriter{w} }

type keepWriter struct{ w *LogWriter }

func (k keepWriter) Write(p []byte) (int, error) { return k.w.write(p, true) }

func (w *LogWriter) write(p []byte, keep bool) (int, error) {
	w.mu.Lock()
	for keep && !w.exited && len(w.buf) > 0 && len(w.buf)+len(p) > keepFactor*w.max {
		w.room.Wait()
	}
	if w.exited {
		w.mu.Unlock()
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	// A record larger than the whole buffer is still taken when the
	// buffer is empty: only a backlog drops records.
	if !keep && len(w.buf) > 0 && len(w.buf)+len(p) > w.max {
		w.unreported++
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	kick := !w.busy
	w.busy = true
	w.mu.Unlock()
	if kick {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Dropped is the number of records dropped because the buffer was full.
func (w *LogWriter) Dropped() uint64 { return w.dropped.Load() }

// Flush waits until every record written before it has been written to
// the output.
func (w *LogWriter) Flush() {
	w.mu.Lock()
	for w.busy && !w.exited {
		w.idle.Wait()
	}
	w.mu.Unlock()
}

// Close writes what is buffered and stops the goroutine. It is safe to
// call more than once.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
	return nil
}

// batchGap is the shortest time between two writes while records keep
// coming: under load the goroutine waits up to this long so that one
// write carries many records (and one wake-up serves them), while a
// record logged after a quiet spell is written at once.
const batchGap = time.Millisecond

func (w *LogWriter) run() {
	defer close(w.done)
	var out []byte
	var last time.Time
	for range w.wake {
		if d := time.Since(last); d < batchGap {
			time.Sleep(batchGap - d)
		}
		for {
			w.mu.Lock()
			if len(w.buf) == 0 {
				w.busy = false
				w.idle.Broadcast()
				if w.closed {
					w.exited = true
					w.room.Broadcast()
					w.mu.Unlock()
					return
				}
				w.mu.Unlock()
				break
			}
			out, w.buf = w.buf, out[:0]
			lost := w.unreported
			w.unreported = 0
			w.room.Broadcast()
			w.mu.Unlock()

			w.outMu.Lock()
			_, _ = w.out.Write(out)
			w.outMu.Unlock()
			last = time.Now()
			// Give back what a burst grew, keep a typical batch's worth.
			if cap(out) > 256<<10 {
				out = nil
			}
			if lost > 0 && w.OnDrop != nil {
				w.OnDrop(lost)
			}
		}
	}
}

// registerLogDrops registers agentgateway_log_records_dropped_total,
// always exported (0 until CountLogDrops names the LogWriter).
func (m *Metrics) registerLogDrops() {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "agentgateway_log_records_dropped_total",
		Help: "Log records (access, audit and others) dropped because the log output did not keep up and the gateway's log buffer was full.",
	}, func() float64 {
		if f := m.logDrops.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}))
}

// CountLogDrops exports dropped() (a LogWriter's Dropped) as
// agentgateway_log_records_dropped_total.
func (m *Metrics) CountLogDrops(dropped func() uint64) {
	if m == nil {
		return
	}
	m.logDrops.Store(&dropped)
}
