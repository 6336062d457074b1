package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// LoadConfig runs the pure part of the lifecycle: strict decode, defaults,
// validation. Errors carry file, line, column and field path.
func LoadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
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
	// Observer and AdminHandlers are passed to the gateway.
	Options Options
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
	log, err := telemetry.NewLogger(o.Stderr, cfg.Logging.Format, cfg.Logging.Level)
	if err != nil {
		return err
	}
	opts := o.Options
	opts.Logger = log
	g := New(opts)
	if err := g.Apply(ctx, cfg); err != nil {
		return err
	}
	log.Info("gateway started", "config", o.ConfigPath, "binds", len(cfg.Binds), "admin", g.AdminAddr().String())

	r := &Reloader{G: g, Path: o.ConfigPath, Load: LoadConfig}
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

func (g *Gateway) currentConfig() *config.Config {
	if rt := g.cur.Load(); rt != nil {
		return rt.cfg
	}
	return nil
}
