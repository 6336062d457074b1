package mcpauthz

import "context"

// SessionStore binds MCP session ids to the identity that started them.
//
// New builds it from the shared store (internal/sharedstate): without
// Redis it is the store's in-memory table (sharedstate.MemorySessions),
// shared by every route and every config generation of the process, so a
// reload keeps the bindings; with Redis it is sharedSessions, so that a
// binding holds across replicas.
type SessionStore interface {
	// Claim binds session id to owner unless it is bound already, and
	// returns the owner it is bound to afterwards (owner itself for a new
	// or refreshed binding). Implementations refresh the binding's idle
	// expiry on every Claim by its owner.
	//
	// Session ids are bearer secrets: implementations should keep a hash,
	// never the id, and never log it.
	Claim(ctx context.Context, id, owner string) (string, error)
	// Bind binds a session id the backend has just created to owner,
	// and returns the owner it is bound to afterwards, like Claim.
	Bind(ctx context.Context, id, owner string) (string, error)
	// Lookup returns the owner id is bound to, or "" when it is not
	// bound, and never binds it. A lookup by the owner refreshes the
	// binding like Claim. Legacy HTTP+SSE sessions use it: their message
	// endpoint is bound when the gateway announces it, and a POST to an
	// endpoint that was never announced must not bind it (docs/authz.md).
	Lookup(ctx context.Context, id, owner string) (string, error)
}
