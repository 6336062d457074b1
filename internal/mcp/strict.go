package mcp

// CheckJSON applies ParseBody's strict rules to a body that need not be
// JSON-RPC (the A2A HTTP+JSON binding, plain JSON bodies): exactly one JSON
// value, no duplicate object keys at any depth, valid UTF-8, no unpaired
// surrogate escapes in keys, nesting no deeper than 64, no trailing data.
// Its errors are *ParseError without an id: Parse error for text that is
// not JSON, Invalid Request for the rest.
func CheckJSON(b []byte) error {
	var keys [24][]byte
	s := scanner{b: b, keys: keys[:0]}
	s.ws()
	err := s.value(0)
	if err == nil {
		s.ws()
		if s.i != len(b) {
			err = invalid("trailing data after JSON value")
		}
	}
	if err == nil {
		return nil
	}
	if err.Code != CodeParseError {
		if _, ok := laxScan(b); !ok {
			return errSyntax()
		}
	}
	return err
}
