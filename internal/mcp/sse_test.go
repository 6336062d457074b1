package mcp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func rewriteAll(t *testing.T, in string, maxBytes int, fn func(*Event) bool) (string, error) {
	t.Helper()
	rc := RewriteEvents(io.NopCloser(strings.NewReader(in)), maxBytes, fn)
	out, err := io.ReadAll(rc)
	return string(out), err
}

func TestRewriteEventsPassthrough(t *testing.T) {
	inputs := map[string]string{
		"lf":              "event: message\ndata: {\"a\":1}\nid: 1\n\n",
		"crlf":            "event: message\r\ndata: {\"a\":1}\r\n\r\nid: 2\r\ndata: x\r\n\r\n",
		"cr":              "data: a\rdata: b\r\rdata: c\r\r",
		"mixed":           "data: a\r\ndata: b\n\rdata: c\r\n\n",
		"comments":        ": keepalive\n\n:ping\r\n\r\ndata: x\n: inline comment\n\n",
		"bom":             "\xef\xbb\xbfdata: x\n\n",
		"partial tail":    "data: x\n\ndata: partial",
		"partial cr tail": "data: x\n\ndata: partial\r",
		"blank lines":     "\n\n\ndata: x\n\n\n",
		"no space":        "data:x\nevent:y\nid:z\nretry:10\n\n",
		"unknown field":   "foo: bar\ndata: x\n\n",
		"field no colon":  "data\n\n",
		"unicode":         "data: héllo 🎉\n\n",
		"empty":           "",
		"only partial":    "data: never finished",
		"retry only":      "retry: 1000\n\n",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			calls := 0
			out, err := rewriteAll(t, in, 0, func(*Event) bool { calls++; return false })
			if err != nil {
				t.Fatal(err)
			}
			if out != in {
				t.Errorf("output %q, want %q", out, in)
			}
			// Byte-at-a-time delivery exercises every split point,
			// including CRLF halves across reads.
			rc := RewriteEvents(io.NopCloser(iotest.OneByteReader(strings.NewReader(in))), 0, func(*Event) bool { return false })
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != in {
				t.Errorf("one-byte output %q, want %q", got, in)
			}
		})
	}
}

func TestRewriteEventsParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"fields", "id: 7\nevent: message\nretry: 100\ndata: hi\n\n",
			[]Event{{ID: "7", Event: "message", Retry: "100", Data: "hi", HasID: true, HasRetry: true, HasData: true}}},
		{"multi-line data", "data: a\ndata:b\ndata:  c\ndata\n\n",
			[]Event{{Data: "a\nb\n c\n", HasData: true}}},
		{"crlf", "data: a\r\ndata: b\r\n\r\n", []Event{{Data: "a\nb", HasData: true}}},
		{"cr", "data: a\rdata: b\r\r", []Event{{Data: "a\nb", HasData: true}}},
		{"comments skipped", ": c\n\n: d\ndata: x\n\n", []Event{{Data: "x", HasData: true}}},
		{"last field wins", "event: a\nevent: b\nid: 1\nid: 2\ndata: x\n\n",
			[]Event{{Event: "b", ID: "2", HasID: true, Data: "x", HasData: true}}},
		{"id with NUL ignored", "id: a\x00b\ndata: x\n\n", []Event{{Data: "x", HasData: true}}},
		{"empty id", "id\ndata: x\n\n", []Event{{HasID: true, Data: "x", HasData: true}}},
		{"bom stripped", "\xef\xbb\xbfevent: e\ndata: x\n\n", []Event{{Event: "e", Data: "x", HasData: true}}},
		{"id only", "id: 5\n\n", []Event{{ID: "5", HasID: true}}},
		{"two events", "data: 1\n\ndata: 2\n\n", []Event{{Data: "1", HasData: true}, {Data: "2", HasData: true}}},
		{"partial not parsed", "data: 1\n\ndata: 2", []Event{{Data: "1", HasData: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Event
			if _, err := rewriteAll(t, tt.in, 0, func(ev *Event) bool { got = append(got, *ev); return false }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			// ParseEvents must agree with what the rewriter shows fn.
			var parsed []Event
			for ev, err := range ParseEvents(strings.NewReader(tt.in), 0) {
				if err != nil {
					t.Fatal(err)
				}
				parsed = append(parsed, *ev)
			}
			if len(parsed) != len(got) {
				t.Fatalf("ParseEvents gave %d events, rewriter %d", len(parsed), len(got))
			}
			for i := range parsed {
				if parsed[i] != got[i] {
					t.Errorf("ParseEvents event %d = %+v, want %+v", i, parsed[i], got[i])
				}
			}
		})
	}
}

func TestRewriteEventsModify(t *testing.T) {
	tests := []struct {
		name string
		in   string
		fn   func(*Event) bool
		want string
	}{
		{"rewrite data", "event: message\r\nid: 1\r\n: comment\r\ndata: old\r\n\r\n",
			func(ev *Event) bool { ev.Data = "new"; return true },
			"id: 1\nevent: message\ndata: new\n\n"},
		{"multi-line data split", "data: x\n\n",
			func(ev *Event) bool { ev.Data = "a\nb\r\nc\rd"; return true },
			"data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"empty data lines", "data: x\n\n",
			func(ev *Event) bool { ev.Data = "\n"; return true },
			"data:\ndata:\n\n"},
		{"unchanged reserialised", "data:a\ndata: b\nretry:5\nid\n\n",
			func(*Event) bool { return true },
			"id:\nretry: 5\ndata: a\ndata: b\n\n"},
		{"leading space preserved", "data: x\n\n",
			func(ev *Event) bool { ev.Data = " y"; return true },
			"data:  y\n\n"},
		{"drop", "data: 1\n\ndata: 2\n\n: ka\n\ndata: 3\n\n",
			func(ev *Event) bool { ev.Drop = ev.Data == "2"; return false },
			"data: 1\n\n: ka\n\ndata: 3\n\n"},
		{"drop everything", "data: 1\n\ndata: 2\n\n",
			func(ev *Event) bool { ev.Drop = true; return true },
			""},
		{"only matching event rewritten", "event: endpoint\ndata: /a\n\ndata: keep\r\n\r\n",
			func(ev *Event) bool {
				if ev.Event != "endpoint" {
					return false
				}
				ev.Data = "/b"
				return true
			},
			"event: endpoint\ndata: /b\n\ndata: keep\r\n\r\n"},
		{"comments untouched when events rewritten", ": ka\n\ndata: x\n\n",
			func(ev *Event) bool { ev.Data = "y"; return true },
			": ka\n\ndata: y\n\n"},
		{"partial tail untouched", "data: x\n\ndata: tail",
			func(ev *Event) bool { ev.Data = "y"; return true },
			"data: y\n\ndata: tail"},
		{"crlf tail after rewritten cr event", "data: x\r\r\ndata: z\r\r",
			func(ev *Event) bool { ev.Data += "!"; return true },
			"data: x!\n\ndata: z!\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewriteAll(t, tt.in, 0, tt.fn)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRewriteEventsSplitCRLFAfterRewrite(t *testing.T) {
	// A CR-terminated blank line at the end of a read is delivered at once;
	// the LF that follows in the next read must not reach the client as a
	// stray line after a re-serialised event, but must after a raw one.
	for _, rewrite := range []bool{false, true} {
		pr, pw := io.Pipe()
		rc := RewriteEvents(pr, 0, func(ev *Event) bool { return rewrite })
		go func() {
			pw.Write([]byte("data: a\r\n\r"))
			pw.Write([]byte("\ndata: b\r\n\r\n"))
			pw.Close()
		}()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		want := "data: a\r\n\r\ndata: b\r\n\r\n"
		if rewrite {
			want = "data: a\n\ndata: b\n\n"
		}
		if string(got) != want {
			t.Errorf("rewrite=%v: got %q, want %q", rewrite, got, want)
		}
	}
}

func TestRewriteEventsEventByEvent(t *testing.T) {
	pr, pw := io.Pipe()
	rc := RewriteEvents(pr, 0, func(ev *Event) bool { ev.Data = strings.ToUpper(ev.Data); return ev.Data == "B" })
	defer rc.Close()

	writes := make(chan string, 4)
	go func() {
		for s := range writes {
			if _, err := pw.Write([]byte(s)); err != nil {
				return
			}
		}
		pw.Close()
	}()

	read := func(want string) {
		t.Helper()
		type res struct {
			s   string
			err error
		}
		ch := make(chan res, 1)
		go func() {
			buf := make([]byte, 4096)
			n, err := rc.Read(buf)
			ch <- res{string(buf[:n]), err}
		}()
		select {
		case r := <-ch:
			if r.err != nil || r.s != want {
				t.Fatalf("Read = %q, %v; want %q", r.s, r.err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Read blocked waiting for more input; want %q", want)
		}
	}

	writes <- "data: a\n\n"
	read("data: a\n\n")
	writes <- "data: b\r\n\r\n"
	read("data: B\n\n")
	// An event split across writes is returned once complete, and the
	// bare CR blank line is delivered without waiting for a possible LF.
	writes <- "data: c\r"
	writes <- "\r"
	read("data: c\r\r")
	// Two events in one write still come out one per Read.
	writes <- ": ka\n\ndata: d\n\n"
	read(": ka\n\n")
	read("data: d\n\n")
	close(writes)
	if n, err := rc.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("final Read = %d, %v; want EOF", n, err)
	}
}

func TestRewriteEventsSmallReads(t *testing.T) {
	in := "data: hello world\n\n"
	rc := RewriteEvents(io.NopCloser(strings.NewReader(in)), 0, func(*Event) bool { return false })
	var out bytes.Buffer
	buf := make([]byte, 3)
	for {
		n, err := rc.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != in {
		t.Errorf("got %q", out.String())
	}
}

func TestRewriteEventsTooLarge(t *testing.T) {
	tests := []struct {
		name string
		in   string
		pass string // output expected before the error
	}{
		{"unterminated", "data: ok\n\n" + strings.Repeat("x", 200), "data: ok\n\n"},
		{"complete but large", "data: ok\n\ndata: " + strings.Repeat("x", 200) + "\n\n", "data: ok\n\n"},
		{"many small lines", strings.Repeat("data: x\n", 50) + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rewriteAll(t, tt.in, 100, func(*Event) bool { return false })
			if !errors.Is(err, ErrEventTooLarge) {
				t.Fatalf("err = %v, want ErrEventTooLarge", err)
			}
			if out != tt.pass {
				t.Errorf("output before error %q, want %q", out, tt.pass)
			}
		})
	}
	// Exactly at the limit is fine.
	ev := "data: " + strings.Repeat("x", 92) + "\n\n"
	if out, err := rewriteAll(t, ev, len(ev), func(*Event) bool { return false }); err != nil || out != ev {
		t.Errorf("event at limit: %q, %v", out, err)
	}
	for _, err := range ParseEvents(strings.NewReader(strings.Repeat("x", 200)), 100) {
		if !errors.Is(err, ErrEventTooLarge) {
			t.Errorf("ParseEvents err = %v", err)
		}
	}
}

func TestRewriteEventsReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: 1\n\ndata: part"), iotest.ErrReader(boom))
	out, err := rewriteAll(t, "", 0, nil) // empty stream sanity
	if err != nil || out != "" {
		t.Fatalf("empty: %q %v", out, err)
	}
	rc := RewriteEvents(io.NopCloser(r), 0, func(*Event) bool { return false })
	got, err := io.ReadAll(rc)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if string(got) != "data: 1\n\n" {
		t.Errorf("got %q; a fragment must not be passed on after a failed read", got)
	}
}

func TestRewriteEventsInvalidRewrite(t *testing.T) {
	_, err := rewriteAll(t, "data: x\n\n", 0, func(ev *Event) bool { ev.Event = "a\nb"; return true })
	if !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("err = %v, want ErrInvalidEvent", err)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestRewriteEventsClose(t *testing.T) {
	cr := &closeRecorder{Reader: strings.NewReader("")}
	if err := RewriteEvents(cr, 0, nil).Close(); err != nil || !cr.closed {
		t.Fatalf("Close: %v, closed=%v", err, cr.closed)
	}
}

func TestWriteEvent(t *testing.T) {
	tests := []struct {
		name    string
		ev      Event
		want    string
		wantErr error
	}{
		{"data", Event{Data: "x"}, "data: x\n\n", nil},
		{"all", Event{ID: "1", Event: "e", Retry: "10", Data: "a\nb"}, "id: 1\nevent: e\nretry: 10\ndata: a\ndata: b\n\n", nil},
		{"empty id kept", Event{HasID: true, Data: "x"}, "id:\ndata: x\n\n", nil},
		{"empty data kept", Event{HasData: true}, "data:\n\n", nil},
		{"nothing", Event{}, "", nil},
		{"newline in id", Event{ID: "1\n", Data: "x"}, "", ErrInvalidEvent},
		{"NUL in id", Event{ID: "1\x00", Data: "x"}, "", ErrInvalidEvent},
		{"CR in event", Event{Event: "a\rdata: evil", Data: "x"}, "", ErrInvalidEvent},
		{"newline in retry", Event{Retry: "1\n2"}, "", ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteEvent(&b, &tt.ev)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
			if err != nil || tt.want == "" {
				return
			}
			// Round trip through the parser.
			for ev, err := range ParseEvents(&b, 0) {
				if err != nil {
					t.Fatal(err)
				}
				if ev.ID != tt.ev.ID || ev.Event != tt.ev.Event || ev.Retry != tt.ev.Retry || ev.Data != tt.ev.Data {
					t.Errorf("round trip %+v, want %+v", ev, tt.ev)
				}
			}
		})
	}
}
