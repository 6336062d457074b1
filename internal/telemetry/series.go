package telemetry

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// requestLabels is the label values, already normalised and capped, of one
// finished request: every series ObserveRequest touches follows from it.
type requestLabels struct {
	route, kind, method, status, identity string
	backend, tool, errType                string // MCP
	source, target, decision              string // A2A
	discovery                             bool
}

// requestSeriesSet are the series one requestLabels increments and observes.
type requestSeriesSet struct {
	counters  []prometheus.Counter
	durations []prometheus.Observer
}

// maxCachedSeries bounds the cache; past it, requests with new label
// values are resolved by the metric vectors each time, as without it.
const maxCachedSeries = 4096

// seriesCache maps a request's label values to its series, so that the
// steady state (the same caller calling the same tool) costs one map
// lookup instead of hashing and looking up six label sets. Series are
// never deleted, so a cached one stays the registered one.
type seriesCache struct {
	mu sync.RWMutex
	m  map[requestLabels]*requestSeriesSet
}

func (c *seriesCache) get(m *Metrics, k *requestLabels) *requestSeriesSet {
	c.mu.RLock()
	s, ok := c.m[*k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = m.resolve(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[*k]; ok {
		return prev
	}
	if c.m == nil {
		c.m = make(map[requestLabels]*requestSeriesSet)
	}
	if len(c.m) < maxCachedSeries {
		c.m[k.clone()] = s
	}
	return s
}

// clone copies the strings of k: a tool name or an identity may alias a
// request body or a token's claims, which a cache key must not keep.
func (k *requestLabels) clone() requestLabels {
	c := *k
	for _, p := range []*string{&c.route, &c.kind, &c.method, &c.status, &c.identity, &c.backend, &c.tool, &c.errType, &c.source, &c.target, &c.decision} {
		*p = strings.Clone(*p)
	}
	return c
}

// resolve looks up (creating them at 0) the series of k in every selected
// seed metric it concerns.
func (m *Metrics) resolve(k *requestLabels) *requestSeriesSet {
	s := &requestSeriesSet{}
	count := func(v *prometheus.CounterVec, labels ...string) {
		if v != nil {
			s.counters = append(s.counters, v.WithLabelValues(labels...))
		}
	}
	observe := func(v *prometheus.HistogramVec, labels ...string) {
		if v != nil {
			s.durations = append(s.durations, v.WithLabelValues(labels...))
		}
	}
	count(m.agentRequests, k.route, k.kind, k.method, k.status, k.identity)
	observe(m.agentRequestDuration, k.route, k.kind, k.method)
	switch k.kind {
	case "mcp":
		if k.errType != "" {
			count(m.mcpErrors, k.route, k.errType)
		}
		if k.discovery {
			count(m.mcpDiscovery, k.route, k.method)
		}
		if k.method != "tools/call" {
			break
		}
		count(m.toolInvocations, k.route, k.backend, k.tool, k.identity, k.status)
		observe(m.toolInvocationDuration, k.route, k.tool)
		count(m.mcpToolCalls, k.route, k.tool, k.status)
		observe(m.mcpToolCallDuration, k.route, k.tool)
		if k.errType != "" {
			count(m.mcpToolErrors, k.route, k.tool, k.errType)
		}
	case "a2a":
		count(m.a2aCalls, k.source, k.target, k.method, k.status, k.decision)
	}
	return s
}

// childKey names one series of a counter vector with up to three labels.
type childKey struct {
	vec     *prometheus.CounterVec
	a, b, c string
}

// childCache caches the series of the per-request counters with few,
// bounded labels (authn, authz, rate-limit, upstream attempt, token
// cache): a map lookup instead of hashing the label values and looking
// them up in the vector.
type childCache struct {
	mu sync.RWMutex
	m  map[childKey]prometheus.Counter
}

func (c *childCache) counter(v *prometheus.CounterVec, lvs ...string) prometheus.Counter {
	var k childKey
	switch len(lvs) {
	case 3:
		k.c = lvs[2]
		fallthrough
	case 2:
		k.b = lvs[1]
		fallthrough
	case 1:
		k.a = lvs[0]
	default:
		return v.WithLabelValues(lvs...)
	}
	k.vec = v
	c.mu.RLock()
	ctr, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return ctr
	}
	ctr = v.WithLabelValues(lvs...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[childKey]prometheus.Counter)
	}
	if len(c.m) < maxCachedSeries {
		c.m[k] = ctr
	}
	return ctr
}
