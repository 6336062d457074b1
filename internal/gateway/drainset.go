package gateway

import (
	"sync"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// waitingSet is the set of exchanges a backend is serving, ended with
// ErrDraining at the end of the shutdown grace period (drainer.all). It
// replaces a context.AfterFunc on drainer.all per exchange (three
// allocations, and an entry in that context's map) with a list threaded
// through the exchanges' upstreamState: joining and leaving allocate
// nothing.
type waitingSet struct {
	mu      sync.Mutex
	head    *upstreamState
	drained bool
}

// join adds st. It reports false when the grace period is already over:
// the caller ends the exchange itself.
func (s *waitingSet) join(st *upstreamState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drained {
		return false
	}
	st.waitNext, st.waitPrev = s.head, nil
	if s.head != nil {
		s.head.waitPrev = st
	}
	s.head = st
	st.waiting = true
	return true
}

// leave removes st, if it is in the set.
func (s *waitingSet) leave(st *upstreamState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.waiting {
		return
	}
	if st.waitPrev != nil {
		st.waitPrev.waitNext = st.waitNext
	} else {
		s.head = st.waitNext
	}
	if st.waitNext != nil {
		st.waitNext.waitPrev = st.waitPrev
	}
	st.waitNext, st.waitPrev, st.waiting = nil, nil, false
}

// drain ends every exchange in the set, and any that joins later, with
// ErrDraining.
func (s *waitingSet) drain() {
	s.mu.Lock()
	s.drained = true
	var exs []*policy.Exchange
	for st := s.head; st != nil; st = st.waitNext {
		exs = append(exs, st.ex)
	}
	s.mu.Unlock()
	// Outside the lock: cancelling runs the exchanges' context hooks.
	for _, ex := range exs {
		ex.Cancel(policy.ErrDraining)
	}
}
