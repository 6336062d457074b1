package demo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// MCPPath is where StartBackends mounts the MCP handler.
const MCPPath = "/mcp"

// BackendOptions configures StartBackendsWith.
type BackendOptions struct {
	// MCP configures the MCP handler. StartBackends uses
	// {Stateless: true, JSONResponse: true}.
	MCP MCPOptions
	// AgentCardURL is the JSON-RPC URL advertised in the weather agent's card.
	// Empty means the agent's own base URL (AgentURL + "/").
	AgentCardURL string
	// PlanningToken, when set, also starts the planning agent, which
	// calls the weather agent at PlanningWeatherURL (on the gateway) with
	// the token it returns.
	PlanningToken      func() string
	PlanningWeatherURL string
}

// Running holds the started demo backends.
type Running struct {
	// MCPURL is the MCP backend's base URL, e.g. http://127.0.0.1:PORT; the
	// MCP endpoint is MCPURL + MCPPath.
	MCPURL string
	// AgentURL is the weather agent's base URL, e.g. http://127.0.0.1:PORT;
	// it accepts A2A JSON-RPC POSTs at "/" and serves its card at
	// AgentURL + AgentCardPath.
	AgentURL string
	// PlanningURL is the planning agent's base URL ("" unless started).
	PlanningURL string
	// EventsURL is the second MCP server's (local events) base URL; its
	// endpoint is EventsURL + MCPPath. The demo's federated route puts it
	// next to the MCP backend.
	EventsURL string

	servers   []*http.Server
	closeOnce sync.Once
	closeErr  error
	mu        sync.Mutex
	stop      func() bool // detaches the ctx watcher; guarded by mu
}

// MCPEndpoint returns MCPURL + MCPPath.
func (r *Running) MCPEndpoint() string { return r.MCPURL + MCPPath }

// StartBackends starts the MCP server (stateless, JSON responses, at /mcp)
// and the weather agent on 127.0.0.1 ephemeral ports. They stop when ctx is
// done or Close is called.
func StartBackends(ctx context.Context) (*Running, error) {
	return StartBackendsWith(ctx, BackendOptions{MCP: MCPOptions{Stateless: true, JSONResponse: true}})
}

// StartBackendsWith is StartBackends with explicit options.
func StartBackendsWith(ctx context.Context, opts BackendOptions) (*Running, error) {
	var lc net.ListenConfig
	mcpLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	agentLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = mcpLn.Close()
		return nil, err
	}
	eventsLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = mcpLn.Close()
		_ = agentLn.Close()
		return nil, err
	}
	r := &Running{
		MCPURL:    "http://" + mcpLn.Addr().String(),
		AgentURL:  "http://" + agentLn.Addr().String(),
		EventsURL: "http://" + eventsLn.Addr().String(),
	}
	cardURL := opts.AgentCardURL
	if cardURL == "" {
		cardURL = r.AgentURL + "/"
	}

	mcpMux := http.NewServeMux()
	mcpMux.Handle(MCPPath, MCPHandler(opts.MCP))
	eventsMux := http.NewServeMux()
	eventsMux.Handle(MCPPath, EventsHandler(opts.MCP))

	type server struct {
		ln net.Listener
		h  http.Handler
	}
	servers := []server{{mcpLn, mcpMux}, {agentLn, NewWeatherAgent(cardURL)}, {eventsLn, eventsMux}}
	if opts.PlanningToken != nil {
		planLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			_ = mcpLn.Close()
			_ = agentLn.Close()
			_ = eventsLn.Close()
			return nil, err
		}
		r.PlanningURL = "http://" + planLn.Addr().String()
		servers = append(servers, server{planLn, NewPlanningAgent(r.PlanningURL+"/", opts.PlanningWeatherURL, opts.PlanningToken)})
	}
	for _, s := range servers {
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		r.servers = append(r.servers, srv)
		go func(ln net.Listener) { _ = srv.Serve(ln) }(s.ln)
	}
	stop := context.AfterFunc(ctx, func() { _ = r.Close() })
	r.mu.Lock()
	r.stop = stop
	r.mu.Unlock()
	return r, nil
}

// Close stops every server immediately (open streams are cut). It is safe
// to call more than once.
func (r *Running) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		stop := r.stop
		r.mu.Unlock()
		if stop != nil {
			stop()
		}
		var errs []error
		for _, s := range r.servers {
			errs = append(errs, s.Close())
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}
