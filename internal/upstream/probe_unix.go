//go:build linux || darwin || freebsd || netbsd || openbsd

package upstream

import "syscall"

// probeRead peeks at a pooled connection without blocking: nothing to read
// (EAGAIN) means it is still open and silent. A read of 0 bytes is the
// server's FIN; data is a response nobody asked for. Either way the
// connection cannot carry a new request.
func (cn *conn) probeRead(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	_ = n
	cn.probeLive = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true
}

// readable is a syscall.RawConn.Read callback that reads nothing: it
// returns false (wait for the poller) while the socket has nothing to
// read, true once it has data, has been closed, or fails.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
