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
	if isAudit(r) {
		return nil
	}
	return f.Handler.Handle(ctx, r)
}

// isAudit reports whether r is an audit record (attribute audit=true, set
// on the record itself by the deciding policy).
func isAudit(r slog.Record) bool {
	audit := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "audit" && a.Value.Kind() == slog.KindBool && a.Value.Bool() {
			audit = true
			return false
		}
		return true
	})
	return audit
}

// SplitAudit sends audit records to audit and everything else to h: the
// run logger writes audit records through LogWriter.Keep, so they are
// never dropped when the log output falls behind.
func SplitAudit(h, audit slog.Handler) slog.Handler { return auditSplit{h, audit} }

type auditSplit struct{ h, audit slog.Handler }

func (s auditSplit) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s auditSplit) Handle(ctx context.Context, r slog.Record) error {
	if isAudit(r) {
		return s.audit.Handle(ctx, r)
	}
	return s.h.Handle(ctx, r)
}

// HandleAttrs keeps the fast path of the per-request records
// (auditlog.LogAttrs) through the split: it dispatches on the audit
// attribute and hands the attributes on when the chosen handler takes
// them directly.
func (s auditSplit) HandleAttrs(level slog.Level, msg string, attrs []slog.Attr) bool {
	h := s.h
	for _, a := range attrs {
		if a.Key == "audit" && a.Value.Kind() == slog.KindBool && a.Value.Bool() {
			h = s.audit
			break
		}
	}
	if fh, ok := h.(interface {
		HandleAttrs(slog.Level, string, []slog.Attr) bool
	}); ok {
		return fh.HandleAttrs(level, msg, attrs)
	}
	return false
}

func (s auditSplit) WithAttrs(as []slog.Attr) slog.Handler {
	return auditSplit{s.h.WithAttrs(as), s.audit.WithAttrs(as)}
}

func (s auditSplit) WithGroup(name string) slog.Handler {
	return auditSplit{s.h.WithGroup(name), s.audit.WithGroup(name)}
}

func (f auditFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return auditFilter{f.Handler.WithAttrs(as)}
}

func (f auditFilter) WithGroup(name string) slog.Handler {
	return auditFilter{f.Handler.WithGroup(name)}
}
