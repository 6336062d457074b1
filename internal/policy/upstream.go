package policy

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// IsConnectFailure reports whether err proves the request never left the
// gateway: no connection to the backend could be established.
func IsConnectFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// IsReset reports whether the connection broke before a response arrived.
// The request may have reached the backend.
func IsReset(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// net/http reports a connection closed mid-request with these texts
	// and no typed error.
	msg := err.Error()
	return strings.Contains(msg, "server closed") || strings.Contains(msg, "connection reset")
}
