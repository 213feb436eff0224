package security

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash reports a stored password that is not an argon2id PHC
// string tandem can verify, for example a password written in clear.
var ErrMalformedHash = errors.New("not an argon2id password hash")

// ErrEmptyPassword reports an attempt to hash an empty password; an empty
// password would make a named user as open as anonymous access.
var ErrEmptyPassword = errors.New("the password is empty; choose a non-empty password")

// HashParams are the argon2id cost parameters of a password hash.
type HashParams struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen and KeyLen are the lengths in bytes of the random salt and of
	// the derived key.
	SaltLen, KeyLen uint32
}

// DefaultHashParams returns the parameters HashPassword uses: OWASP's
// recommended argon2id minimum (19 MiB, 2 passes, 1 lane). A verification
// costs roughly 20–50 ms on a current server core, which is slow enough to
// make offline guessing expensive and fast enough for interactive logins;
// the Authenticator's cache keeps reconnect storms from paying it each time.
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Upper bounds accepted when verifying a hash read from disk. They keep a
// hand-edited or hostile users file from making every login allocate
// gigabytes or spin for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxSaltLen   = 1024
	minKeyLen    = 16
	maxKeyLen    = 1024
)

// HashPassword hashes pw with argon2id, a fresh random salt and the default
// parameters, and returns the self-describing PHC string to store.
func HashPassword(pw string) (string, error) {
	return HashPasswordWith(pw, DefaultHashParams())
}

// HashPasswordWith is HashPassword with explicit cost parameters; tests use
// it to keep hashing cheap, operators to raise the cost.
func HashPasswordWith(pw string, p HashParams) (string, error) {
	if pw == "" {
		return "", ErrEmptyPassword
	}
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the stored PHC hash. It returns
// an error wrapping ErrMalformedHash when hash cannot be parsed; a mismatch
// is (false, nil). The comparison of the derived keys is constant-time.
func VerifyPassword(hash, pw string) (bool, error) {
	p, salt, want, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// CheckHash reports whether hash is a PHC string VerifyPassword accepts,
// without the cost of deriving a key. LoadUsers uses it to reject clear-text
// passwords at load time rather than at the first login.
func CheckHash(hash string) error {
	_, _, _, err := parseHash(hash)
	return err
}

// parseHash splits "$argon2id$v=19$m=..,t=..,p=..$salt$key" into its parts.
func parseHash(hash string) (HashParams, []byte, []byte, error) {
	var p HashParams
	fields := strings.Split(hash, "$")
	// A leading "$" yields an empty first field.
	if len(fields) != 6 || fields[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: expected $argon2id$v=19$m=...,t=...,p=...$salt$hash", ErrMalformedHash)
	}
	if fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: algorithm %q is not supported, only argon2id", ErrMalformedHash, fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q is not supported, only v=%d", ErrMalformedHash, fields[2], argon2.Version)
	}
	if err := p.parseParams(fields[3]); err != nil {
		return p, nil, nil, err
	}
	salt, err := base64.RawStdEncoding.DecodeString(fields[4])
	if err != nil || len(salt) == 0 || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: the salt is not valid unpadded base64 of 1 to %d bytes", ErrMalformedHash, maxSaltLen)
	}
	key, err := base64.RawStdEncoding.DecodeString(fields[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: the hash is not valid unpadded base64 of %d to %d bytes", ErrMalformedHash, minKeyLen, maxKeyLen)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// parseParams reads "m=19456,t=2,p=1" in that order, as the PHC format and
// every argon2 library write it.
func (p *HashParams) parseParams(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return fmt.Errorf("%w: expected parameters m=...,t=...,p=..., got %q", ErrMalformedHash, s)
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(parts[i], name)
		if !ok {
			return fmt.Errorf("%w: expected parameters m=...,t=...,p=..., got %q", ErrMalformedHash, s)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%w: parameter %s%q is not a number", ErrMalformedHash, name, v)
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return fmt.Errorf("%w: parallelism p=%d is above 255", ErrMalformedHash, vals[2])
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	if err := p.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return nil
}

// check enforces the bounds argon2 itself needs plus tandem's safety caps.
func (p HashParams) check() error {
	switch {
	case p.Threads < 1:
		return errors.New("argon2 parallelism must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time cost t=%d is outside 1..%d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("argon2 memory cost m=%d KiB is outside %d..%d", p.Memory, 8*uint32(p.Threads), maxMemoryKiB)
	case p.SaltLen == 0 && p.KeyLen == 0:
		// Parsed hashes fill these in after the check.
		return nil
	case p.SaltLen < 8 || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2 salt length %d is outside 8..%d bytes", p.SaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2 key length %d is outside %d..%d bytes", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}
