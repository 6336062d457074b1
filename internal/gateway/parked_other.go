//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package gateway

// parkSupported: without a non-blocking MSG_PEEK the client watch
// cannot wait without a buffer; streams stay on their handler goroutine.
const parkSupported = false

func peekClient(uintptr) int { return peekData }
