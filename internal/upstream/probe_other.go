//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package upstream

// probeRead cannot peek here: the idle timeout alone guards reuse.
func (cn *conn) probeRead(fd uintptr) bool {
	cn.probeLive = true
	return true
}
