package policy

import (
	"context"
	"strings"
)

// BaseURL returns the gateway's base URL for this request
// (scheme://host[:port]), built from the Host the edge found allowed on
// the bind, or "" when the Host must not be reflected: anything that puts
// the gateway's address in a response (RFC 9728 metadata, agent cards)
// then needs the route's externalUrl. It is built only when asked for:
// most requests never need it.
func BaseURL(ctx context.Context) string {
	ex := ExchangeFrom(ctx)
	if ex == nil || ex.ReflectHost == "" {
		return ""
	}
	if ex.TLS {
		return "https://" + ex.ReflectHost
	}
	return "http://" + ex.ReflectHost
}

// WithBaseURL returns ctx whose exchange reflects base (scheme://host),
// for code that serves a request without the edge (tests, benchmarks):
// the edge sets Exchange.ReflectHost itself.
func WithBaseURL(ctx context.Context, base string) context.Context {
	ex := ExchangeFrom(ctx)
	if ex == nil {
		ex = &Exchange{}
		ctx = WithExchange(ctx, ex)
	}
	switch {
	case strings.HasPrefix(base, "https://"):
		ex.ReflectHost, ex.TLS = base[len("https://"):], true
	case strings.HasPrefix(base, "http://"):
		ex.ReflectHost, ex.TLS = base[len("http://"):], false
	default:
		ex.ReflectHost = ""
	}
	return ctx
}
