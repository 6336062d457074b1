//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package upstream

// probeRead cannot peek here: the idle timeout alone guards reuse.
func (cn *conn) probeRead(fd uintptr) bool {
	cn.probeLive = true
	return true
}

// readable cannot peek here: the wait returns at once and the read that
// follows blocks with its buffer, as it would without WaitData.
func readable(fd uintptr) bool { return true }
