package federation

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Session is what a federated session id carries: everything a replica
// needs to serve the client's next request, so no replica keeps a table
// (docs/federation.md#session-format).
type Session struct {
	// Principal is sha256 of the identity that opened the session
	// (PrincipalHash); a request by anyone else is refused as if the
	// session did not exist.
	Principal [32]byte
	// Expiry is when the session stops opening.
	Expiry time.Time
	// Version is the protocol version negotiated with the client.
	Version string
	// Backends holds one entry per backend of the route, in config order.
	Backends []BackendSession
}

// BackendSession is one backend's part of a federated session.
type BackendSession struct {
	// ID is the backend's Mcp-Session-Id ("" when it issued none).
	ID string
	// Version is the protocol version the backend negotiated.
	Version string
	// Down is set when the backend failed its initialize under failOpen:
	// the session goes on without it.
	Down bool
}

// Limits of the codec: a blob past them is refused unopened.
const (
	maxSealedLen   = 16 << 10
	maxBackends    = 256
	sessionVersion = 1
	keyIDLen       = 4
	nonceLen       = 12
)

// ErrSession is returned for a session id that does not open: forged,
// sealed by an unknown key, for another route, or malformed.
var ErrSession = errors.New("federation: invalid session id")

// ErrExpired is returned for a session past its expiry.
var ErrExpired = errors.New("federation: session expired")

// Keys seal and open session ids with AES-256-GCM: the first key seals,
// every key opens, so a rotation prepends a key and later drops the old
// one (docs/federation.md#key-rotation). A sealed id is
// base64url(version | keyID | nonce | ciphertext+tag); the route name is
// the additional data, so an id from one route never opens on another.
type Keys struct {
	aeads []keyed
}

type keyed struct {
	id   [keyIDLen]byte
	aead cipher.AEAD
}

// NewKeys builds Keys from raw 32-byte keys; the first seals.
func NewKeys(raw [][]byte) (*Keys, error) {
	if len(raw) == 0 {
		return nil, errors.New("no session keys")
	}
	k := &Keys{}
	for i, r := range raw {
		if len(r) != 32 {
			return nil, fmt.Errorf("session key %d: %d bytes, want 32", i+1, len(r))
		}
		blk, err := aes.NewCipher(r)
		if err != nil {
			return nil, err
		}
		a, err := cipher.NewGCM(blk)
		if err != nil {
			return nil, err
		}
		// The key id lets Open pick the key without trying each one; it
		// is a hash, so it reveals nothing of the key.
		sum := sha256.Sum256(append([]byte("agentgateway federation key id\x00"), r...))
		var id [keyIDLen]byte
		copy(id[:], sum[:])
		k.aeads = append(k.aeads, keyed{id, a})
	}
	return k, nil
}

// RandomKeys returns a single random key: sessions sealed with it open
// only in this process.
func RandomKeys() *Keys {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	k, _ := NewKeys([][]byte{b[:]})
	return k
}

// LoadKeys reads a session key file: one base64 (standard, padded)
// 32-byte key per line; '#' comments and blank lines are ignored.
func LoadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseKeys(f, path)
}

// ParseKeys reads keys in LoadKeys' format; name is used in errors.
func ParseKeys(r io.Reader, name string) (*Keys, error) {
	var raw [][]byte
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			// The line is a secret: never echo it.
			return nil, fmt.Errorf("%s:%d: not a base64 32-byte key (generate one with: head -c 32 /dev/urandom | base64)", name, line)
		}
		raw = append(raw, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: no keys", name)
	}
	return NewKeys(raw)
}

// PrincipalHash is the hash a session binds: the subject and the issuer
// that vouched for it, so the same subject from another issuer is another
// identity. Unauthenticated routes bind the empty identity.
func PrincipalHash(issuer, subject string) [32]byte {
	h := sha256.New()
	h.Write([]byte("agentgateway federation principal\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(issuer)))
	h.Write(n[:])
	h.Write([]byte(issuer))
	h.Write([]byte(subject))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Seal encodes and seals s for route.
func (k *Keys) Seal(route string, s *Session) (string, error) {
	if len(s.Backends) > maxBackends {
		return "", fmt.Errorf("federation: %d backends in a session (max %d)", len(s.Backends), maxBackends)
	}
	plain := s.appendBinary(make([]byte, 0, 64+len(s.Version)+len(s.Backends)*48))
	key := k.aeads[0]
	out := make([]byte, 1+keyIDLen+nonceLen, 1+keyIDLen+nonceLen+len(plain)+key.aead.Overhead())
	out[0] = sessionVersion
	copy(out[1:], key.id[:])
	nonce := out[1+keyIDLen:]
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out = key.aead.Seal(out, nonce, plain, []byte(route))
	if base64.RawURLEncoding.EncodedLen(len(out)) > maxSealedLen {
		return "", errors.New("federation: session too large")
	}
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// sessionEncoding decodes session ids: unpadded base64url that refuses
// non-zero trailing bits.
var sessionEncoding = base64.RawURLEncoding.Strict()

// Open opens a session id sealed for route and checks its expiry against
// now. It never panics, whatever id holds.
func (k *Keys) Open(route, id string, now time.Time) (*Session, error) {
	if len(id) > maxSealedLen || len(id) < base64.RawURLEncoding.EncodedLen(1+keyIDLen+nonceLen+16) {
		return nil, ErrSession
	}
	var stack [1024]byte
	var raw []byte
	if n := base64.RawURLEncoding.DecodedLen(len(id)); n <= len(stack) {
		raw = stack[:n]
	} else {
		raw = make([]byte, n)
	}
	// Strict, and the length checked after decoding: the decoder skips
	// CR and LF, so an id of newlines passes the length check above and
	// decodes to nothing. One id has one spelling.
	n, err := sessionEncoding.Decode(raw, []byte(id))
	if err != nil || n < 1+keyIDLen+nonceLen+16 || len(id) != base64.RawURLEncoding.EncodedLen(n) {
		return nil, ErrSession
	}
	raw = raw[:n]
	if raw[0] != sessionVersion {
		return nil, ErrSession
	}
	var aead cipher.AEAD
	for _, kk := range k.aeads {
		if subtle.ConstantTimeCompare(kk.id[:], raw[1:1+keyIDLen]) == 1 {
			aead = kk.aead
			break
		}
	}
	if aead == nil {
		return nil, ErrSession
	}
	nonce := raw[1+keyIDLen : 1+keyIDLen+nonceLen]
	plain, err := aead.Open(raw[1+keyIDLen+nonceLen:1+keyIDLen+nonceLen], nonce, raw[1+keyIDLen+nonceLen:], []byte(route))
	if err != nil {
		return nil, ErrSession
	}
	s, err := decodeSession(plain)
	if err != nil {
		return nil, ErrSession
	}
	if !now.Before(s.Expiry) {
		return nil, ErrExpired
	}
	return s, nil
}

// appendBinary is the plaintext: expiry (unix seconds, 8 bytes),
// principal (32), version, backend count, then per backend a flags byte,
// its session id and version; strings are uvarint-length prefixed.
func (s *Session) appendBinary(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(s.Expiry.Unix()))
	b = append(b, s.Principal[:]...)
	b = appendString(b, s.Version)
	b = binary.AppendUvarint(b, uint64(len(s.Backends)))
	for _, be := range s.Backends {
		var flags byte
		if be.Down {
			flags |= 1
		}
		b = append(b, flags)
		b = appendString(b, be.ID)
		b = appendString(b, be.Version)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShort = errors.New("short session")

func decodeSession(b []byte) (*Session, error) {
	if len(b) < 8+32 {
		return nil, errShort
	}
	s := &Session{Expiry: time.Unix(int64(binary.BigEndian.Uint64(b)), 0)}
	copy(s.Principal[:], b[8:40])
	b = b[40:]
	var err error
	if s.Version, b, err = readString(b); err != nil {
		return nil, err
	}
	n, k := uvarint(b)
	if k <= 0 || n > maxBackends {
		return nil, errShort
	}
	b = b[k:]
	s.Backends = make([]BackendSession, n)
	for i := range s.Backends {
		if len(b) < 1 {
			return nil, errShort
		}
		flags := b[0]
		if flags&^1 != 0 {
			return nil, errors.New("unknown flags")
		}
		s.Backends[i].Down = flags&1 != 0
		b = b[1:]
		if s.Backends[i].ID, b, err = readString(b); err != nil {
			return nil, err
		}
		if s.Backends[i].Version, b, err = readString(b); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes")
	}
	return s, nil
}

// uvarint reads a minimally encoded uvarint: one plaintext has one
// encoding.
func uvarint(b []byte) (uint64, int) {
	n, k := binary.Uvarint(b)
	if k > 0 && k != len(binary.AppendUvarint(nil, n)) {
		return 0, -1
	}
	return n, k
}

func readString(b []byte) (string, []byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, errShort
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
