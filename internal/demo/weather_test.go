package demo

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestForecastDeterministic(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"identical", "Tampa, FL", "Tampa, FL", true},
		{"case and spaces", "  tampa,   FL ", "Tampa, fl", true},
		{"different cities", "Tampa, FL", "Seattle, WA", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Forecast(tt.a), Forecast(tt.b)
			if got := reflect.DeepEqual(a.Days, b.Days); got != tt.same {
				t.Fatalf("DeepEqual(days(%q), days(%q)) = %v, want %v", tt.a, tt.b, got, tt.same)
			}
			if len(a.Days) != ForecastDays {
				t.Fatalf("got %d days, want %d", len(a.Days), ForecastDays)
			}
			for _, d := range a.Days {
				if d.LowF >= d.HighF || d.PrecipitationPct < 0 || d.PrecipitationPct > 100 || d.WindMPH <= 0 {
					t.Errorf("implausible day %+v", d)
				}
			}
			if ForecastText(a) != ForecastText(Forecast(tt.a)) {
				t.Error("ForecastText not deterministic")
			}
		})
	}
}

func TestExtractCity(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"Get weather forecast for Tampa, FL this weekend", "Tampa, FL"},
		{"Get weather for Tampa, FL", "Tampa, FL"},
		{"What's the weather in Paris?", "Paris"},
		{"weather in Tampa for tomorrow", "Tampa"},
		{"Plan activities in Seattle, WA for the weekend", "Seattle, WA"},
		{"for Austin, TX", "Austin, TX"},
		{"Tampa, FL weather", "Tampa, FL"},
		{"Denver", "Denver"},
		{"weather forecast please", ""},
		{"", ""},
		{"forecast for the city of Boston this week", "Boston"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ExtractCity(tt.in); got != tt.want {
				t.Fatalf("ExtractCity(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMemoryBounded(t *testing.T) {
	m := newMemory(3)
	for i := range 5 {
		if err := m.Put(fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := m.Get(fmt.Sprint("k", i)); ok != want {
			t.Errorf("k%d present = %v, want %v", i, ok, want)
		}
	}
	// Overwrite keeps size.
	if err := m.Put("k4", "v2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("k4"); v != "v2" || m.Len() != 3 {
		t.Errorf("after overwrite: v=%q len=%d", v, m.Len())
	}
	errTests := []struct {
		name, key, value string
	}{
		{"empty key", "", "v"},
		{"long key", strings.Repeat("k", MaxMemoryKeyBytes+17), "v"},
		{"large value", "k", strings.Repeat("v", MaxMemoryValueBytes+1)},
	}
	for _, tt := range errTests {
		if err := m.Put(tt.key, tt.value); err == nil {
			t.Errorf("%s: Put succeeded, want error", tt.name)
		}
	}
	// Concurrent use is safe (run with -race).
	big := newMemory(MaxMemoryEntries)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				_ = big.Put(fmt.Sprint(g, "-", i), "v")
				big.Get(fmt.Sprint(g, "-", i))
			}
		})
	}
	wg.Wait()
	if big.Len() != MaxMemoryEntries {
		t.Fatalf("Len = %d, want %d", big.Len(), MaxMemoryEntries)
	}
}
