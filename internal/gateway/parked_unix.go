//go:build linux || darwin || freebsd || netbsd || openbsd

package gateway

import "syscall"

// parkSupported: the client watch needs a non-blocking MSG_PEEK.
const parkSupported = true

// peekClient looks at a parked stream's client socket without reading
// from it and without blocking.
func peekClient(fd uintptr) int {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		return peekNothing
	case err == syscall.EINTR:
		return peekNothing
	case err != nil || n == 0:
		return peekClosed
	}
	return peekData
}
