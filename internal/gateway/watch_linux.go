package gateway

import (
	"sync"
	"syscall"
)

// clientWatcher waits for the clients of all parked streams to close,
// in one goroutine and one epoll instance for the whole gateway, instead
// of a goroutine per stream parked on its client's socket (2 KiB of
// stack and a goroutine descriptor each). A client socket is registered
// one-shot for readability or hang-up; when it fires, a non-blocking
// MSG_PEEK tells a close (the stream's context ends) from bytes the
// client sent (the watch ends; the stream goes on) from a spurious wake
// (re-armed). The goroutine runs only while streams are parked.
type clientWatcher struct {
	mu      sync.Mutex
	ep      int // the epoll instance; 0 when the loop is not running
	wake    [2]int
	streams map[int32]*parking
	next    int32
}

// wakeKey is the epoll data of the loop's wake-up pipe.
const wakeKey = -1

const watchEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// add watches p's client; false if it cannot (the caller falls back to a
// goroutine).
func (w *clientWatcher) add(p *parking) bool {
	if p.raw == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ep == 0 && !w.startLocked() {
		return false
	}
	w.next++
	if w.next < 0 {
		w.next = 1
	}
	key := w.next
	var err error
	cerr := p.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(w.ep, syscall.EPOLL_CTL_ADD, int(fd), &syscall.EpollEvent{Events: watchEvents, Fd: key})
	})
	if cerr != nil || err != nil {
		w.stopIfIdleLocked()
		return false
	}
	p.watchKey = key
	w.streams[key] = p
	return true
}

// remove ends p's watch, before its connection closes.
func (w *clientWatcher) remove(p *parking) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.watchKey == 0 || w.streams[p.watchKey] != p {
		return
	}
	delete(w.streams, p.watchKey)
	_ = p.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(w.ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	w.stopIfIdleLocked()
}

func (w *clientWatcher) startLocked() bool {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	var wake [2]int
	if err := syscall.Pipe2(wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(ep)
		return false
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, wake[0], &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeKey}); err != nil {
		_ = syscall.Close(ep)
		_ = syscall.Close(wake[0])
		_ = syscall.Close(wake[1])
		return false
	}
	w.ep, w.wake = ep, wake
	if w.streams == nil {
		w.streams = map[int32]*parking{}
	}
	go w.loop(ep, wake[0])
	return true
}

// stopIfIdleLocked wakes the loop to end it when nothing is watched.
func (w *clientWatcher) stopIfIdleLocked() {
	if len(w.streams) > 0 || w.ep == 0 {
		return
	}
	_, _ = syscall.Write(w.wake[1], []byte{0})
	_ = syscall.Close(w.wake[1])
	w.ep = 0
}

func (w *clientWatcher) loop(ep, wake int) {
	defer func() {
		_ = syscall.Close(ep)
		_ = syscall.Close(wake)
	}()
	var events [32]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(ep, events[:], -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			w.failAll(ep)
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == wakeKey {
				// Written only by stopIfIdleLocked, after which this
				// instance gets no new streams.
				return
			}
			w.check(ep, ev.Fd)
		}
	}
}

// check looks at a client whose socket fired.
func (w *clientWatcher) check(ep int, key int32) {
	w.mu.Lock()
	p := w.streams[key]
	if p == nil {
		w.mu.Unlock()
		return
	}
	state := peekClosed
	_ = p.raw.Control(func(fd uintptr) {
		state = peekClient(fd)
		if state == peekNothing {
			_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_MOD, int(fd), &syscall.EpollEvent{Events: watchEvents, Fd: key})
		}
	})
	if state != peekNothing {
		delete(w.streams, key)
		p.watchKey = 0
		w.stopIfIdleLocked()
	}
	w.mu.Unlock()
	p.sawClient(state)
}

// failAll falls back to a goroutine per stream if epoll fails.
func (w *clientWatcher) failAll(ep int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, p := range w.streams {
		delete(w.streams, key)
		p.watchKey = 0
		go p.watch()
	}
	if w.ep == ep {
		_ = syscall.Close(w.wake[1])
		w.ep = 0
	}
}
