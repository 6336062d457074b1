package telemetry

import (
	"context"
	"log/slog"
)

// WithoutAudit drops the audit records (those with the attribute
// audit=true: authorization and rate-limit decisions) from h, for
// logging.audit: false. Everything else passes.
func WithoutAudit(h slog.Handler) slog.Handler { return auditFilter{h} }

type auditFilter struct{ slog.Handler }

func (f auditFilter) Handle(ctx context.Context, r slog.Record) error {
	audit := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "audit" && a.Value.Kind() == slog.KindBool && a.Value.Bool() {
			audit = true
			return false
		}
		return true
	})
	if audit {
		return nil
	}
	return f.Handler.Handle(ctx, r)
}

func (f auditFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return auditFilter{f.Handler.WithAttrs(as)}
}

func (f auditFilter) WithGroup(name string) slog.Handler {
	return auditFilter{f.Handler.WithGroup(name)}
}
