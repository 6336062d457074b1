package policy

import "context"

type baseURLKey struct{}

// WithBaseURL returns ctx carrying the gateway's base URL for this request
// (scheme://host[:port]), built by the edge from a Host the bind allows.
func WithBaseURL(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseURLKey{}, base)
}

// BaseURL returns the base URL the edge derived from an allowed Host, or
// "" when the Host must not be reflected: anything that puts the gateway's
// address in a response (RFC 9728 metadata, agent cards) then needs the
// route's externalUrl.
func BaseURL(ctx context.Context) string {
	s, _ := ctx.Value(baseURLKey{}).(string)
	return s
}
