package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func TestWaitingSet(t *testing.T) {
	tests := []struct {
		name  string
		leave []int // which of three exchanges leave before the drain
		late  bool  // a fourth joins after the drain
	}{
		{"all waiting", nil, false},
		{"head leaves", []int{2}, false},
		{"middle leaves", []int{1}, false},
		{"tail leaves", []int{0}, false},
		{"all leave", []int{0, 1, 2}, false},
		{"join after the drain", []int{1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s waitingSet
			var sts []*upstreamState
			for range 3 {
				ex := &policy.Exchange{}
				st := &upstreamState{Context: ex.Bind(context.Background()), ex: ex}
				t.Cleanup(ex.End)
				if !s.join(st) {
					t.Fatal("join refused before the drain")
				}
				sts = append(sts, st)
			}
			left := map[int]bool{}
			for _, i := range tt.leave {
				s.leave(sts[i])
				s.leave(sts[i]) // twice: no effect
				left[i] = true
			}
			s.drain()
			for i, st := range sts {
				cause := context.Cause(st)
				if left[i] && cause != nil {
					t.Errorf("exchange %d left, yet ended: %v", i, cause)
				}
				if !left[i] && !errors.Is(cause, policy.ErrDraining) {
					t.Errorf("exchange %d: cause %v, want %v", i, cause, policy.ErrDraining)
				}
				s.leave(st)
			}
			if tt.late && s.join(&upstreamState{}) {
				t.Error("join accepted after the drain")
			}
			if s.head != nil {
				t.Error("the set is not empty after every exchange left")
			}
		})
	}
}
