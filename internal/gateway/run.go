package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// LoadConfig runs the pure part of the lifecycle: strict decode, defaults,
// validation. Errors carry file, line, column and field path.
func LoadConfig(path string) (*config.Config, error) {
	// The same one-pass check as `agentgateway validate`: decode and
	// semantic problems together, so run and validate report the same.
	cfg, err := config.Check(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// RunOptions configure RunFile.
type RunOptions struct {
	ConfigPath string
	Stderr     io.Writer
	// Ready, if set, is called once the gateway serves.
	Ready func(g *Gateway)
	// Observer and AdminHandlers are passed to the gateway. Without an
	// Observer, RunFile builds the config's telemetry (telemetry.NewObserver).
	Options Options
	// Version is reported in metrics (build info) and traces.
	Version string
}

// RunFile is the whole lifecycle of `agentgateway run`: load and validate,
// provision, serve, reload on SIGHUP and on file changes, and drain on
// SIGTERM/SIGINT or when ctx ends.
func RunFile(ctx context.Context, o RunOptions) error {
	cfg, err := LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	if ps := Problems(cfg); len(ps) > 0 {
		return fmt.Errorf("refusing to start: this build cannot enforce everything the config asks for:\n  %s", strings.Join(ps, "\n  "))
	}
	// Deferred first, so it runs last: everything logged is written
	// before RunFile returns.
	lw := telemetry.NewLogWriter(o.Stderr, 0)
	defer lw.Close()
	log, err := NewRunLogger(lw, cfg)
	if err != nil {
		return err
	}
	opts := o.Options
	opts.Logger = log
	tel, err := telemetry.NewObserver(ctx, cfg, o.Version, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Tracing.Shutdown(sctx)
	}()
	if opts.Observer == nil {
		opts.Observer = tel
	}
	if tel.Metrics != nil {
		if opts.AdminHandlers == nil {
			opts.AdminHandlers = map[string]http.Handler{}
		}
		opts.AdminHandlers["GET "+metricsPath(cfg)] = tel.Metrics.Handler()
	}
	tel.Metrics.CountLogDrops(lw.Dropped)
	g := New(opts)
	if err := g.Apply(ctx, cfg); err != nil {
		return err
	}
	log.Info("gateway started", "config", o.ConfigPath, "binds", len(cfg.Binds), "admin", g.AdminAddr().String())

	r := &Reloader{G: g, Path: o.ConfigPath, Load: LoadConfig, OnResult: tel.Metrics.ConfigReload}
	r.MarkLoaded()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		if err := r.Watch(wctx); err != nil {
			log.Warn("config file watch disabled; SIGHUP still reloads", "err", err)
		}
	}()
	if o.Ready != nil {
		o.Ready(g)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(term)
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading config")
			_ = r.Reload(ctx, true)
			continue
		case s := <-term:
			log.Info("draining", "signal", s.String(), "grace", cfg.Server.ShutdownGracePeriod.D().String())
		case <-ctx.Done():
			log.Info("draining", "reason", "context done")
		}
		break
	}
	stopWatch()
	grace := cfg.Server.ShutdownGracePeriod.D()
	if cur := g.currentConfig(); cur != nil {
		grace = cur.Server.ShutdownGracePeriod.D()
	}
	if err := g.Shutdown(grace); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "err", err)
	}
	log.Info("gateway stopped")
	return nil
}

// NewRunLogger is the logger of `agentgateway run` on w (a LogWriter
// there): cfg's logging format and level, without the audit records when
// logging.audit is false. It reports dropped records through w's OnDrop.
func NewRunLogger(w io.Writer, cfg *config.Config) (*slog.Logger, error) {
	log, err := telemetry.NewLogger(w, cfg.Logging.Format, cfg.Logging.Level)
	if err != nil {
		return nil, err
	}
	lw, _ := w.(*telemetry.LogWriter)
	if a := cfg.Logging.Audit; a != nil && !*a {
		log = slog.New(telemetry.WithoutAudit(log.Handler()))
	} else if lw != nil {
		// Audit records are never dropped: they go through Keep.
		audit, err := telemetry.NewLogger(lw.Keep(), cfg.Logging.Format, cfg.Logging.Level)
		if err != nil {
			return nil, err
		}
		log = slog.New(telemetry.SplitAudit(log.Handler(), audit.Handler()))
	}
	if lw != nil {
		lw.OnDrop = func(n uint64) {
			log.Warn("log records dropped: the log output is not keeping up", "dropped", n)
		}
	}
	return log, nil
}

func (g *Gateway) currentConfig() *config.Config {
	if rt := g.cur.Load(); rt != nil {
		return rt.cfg
	}
	return nil
}

func metricsPath(cfg *config.Config) string {
	if o := cfg.Observability; o != nil && o.Prometheus != nil && o.Prometheus.Path != "" {
		return o.Prometheus.Path
	}
	return "/metrics"
}
