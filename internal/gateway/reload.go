package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Loader reads, defaults and validates a config file.
type Loader func(path string) (*config.Config, error)

// Reloader reloads the gateway's config from a file on demand (SIGHUP) or
// when the file changes, including Kubernetes ConfigMap updates, which
// swap a "..data" symlink in the file's directory rather than writing the
// file.
type Reloader struct {
	G    *Gateway
	Path string
	Load Loader
	// OnResult, if set, is told whether each reload attempt succeeded
	// (the config reload metrics).
	OnResult func(ok bool)

	mu   sync.Mutex
	last [32]byte
}

// Reload loads the file and applies it. An invalid config is rejected with
// a log line and the running config keeps serving. Unchanged content is a
// no-op.
func (r *Reloader) Reload(ctx context.Context, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := os.ReadFile(r.Path)
	if err != nil {
		r.G.log.Error("config reload rejected; keeping the running config", "path", r.Path, "err", err)
		r.result(false)
		return err
	}
	sum := sha256.Sum256(data)
	if !force && sum == r.last {
		return nil
	}
	cfg, err := r.Load(r.Path)
	if err == nil {
		err = r.G.Apply(ctx, cfg)
	}
	if err != nil {
		r.G.log.Error("config reload rejected; keeping the running config", "path", r.Path, "err", err.Error())
		r.result(false)
		return err
	}
	r.result(true)
	r.last = sum
	r.G.log.Info("config reloaded", "path", r.Path, "sha256", hex.EncodeToString(sum[:8]))
	return nil
}

func (r *Reloader) result(ok bool) {
	if r.OnResult != nil {
		r.OnResult(ok)
	}
}

// MarkLoaded records the content hash of the config applied at start-up.
func (r *Reloader) MarkLoaded() {
	if data, err := os.ReadFile(r.Path); err == nil {
		r.mu.Lock()
		r.last = sha256.Sum256(data)
		r.mu.Unlock()
	}
}

// Watch reloads when the file's directory changes, until ctx ends. Events
// are debounced: an editor or kubelet writes in several steps.
func (r *Reloader) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(r.Path)); err != nil {
		return err
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(200*time.Millisecond, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.G.log.Warn("config watch error", "err", err)
		case <-fire:
			_ = r.Reload(ctx, false)
		}
	}
}
