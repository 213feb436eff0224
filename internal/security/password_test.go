package security

import (
	"errors"
	"strings"
	"testing"
)

// cheapParams keeps tests fast; the format is the same as the default's.
var cheapParams = HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordRoundTrip(t *testing.T) {
	hash, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the default parameters", hash)
	}
	if strings.Contains(hash, "s3cret") {
		t.Fatal("hash contains the clear password")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"s3cret", true}, {"s3cret ", false}, {"", false}, {"S3cret", false}} {
		ok, err := VerifyPassword(hash, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", tc.pw, ok, err, tc.want)
		}
	}
}

func TestHashPasswordSaltsDiffer(t *testing.T) {
	a, _ := HashPasswordWith("pw", cheapParams)
	b, _ := HashPasswordWith("pw", cheapParams)
	if a == b {
		t.Fatal("two hashes of the same password are equal; the salt is not random")
	}
}

func TestHashPasswordRejectsEmpty(t *testing.T) {
	if _, err := HashPassword(""); !errors.Is(err, ErrEmptyPassword) {
		t.Fatalf("err = %v, want ErrEmptyPassword", err)
	}
}

func TestHashPasswordWithBadParams(t *testing.T) {
	for _, p := range []HashParams{
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 4, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := HashPasswordWith("pw", p); err == nil {
			t.Errorf("HashPasswordWith(%+v) succeeded, want an error", p)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, _ := HashPasswordWith("pw", cheapParams)
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"clear text":    "admin",
		"empty":         "",
		"bcrypt":        "$2a$10$abcdefghijklmnopqrstuu",
		"argon2i":       "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"old version":   "$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"param order":   "$argon2id$v=19$t=1,m=64,p=1$" + parts[4] + "$" + parts[5],
		"huge memory":   "$argon2id$v=19$m=99999999,t=1,p=1$" + parts[4] + "$" + parts[5],
		"huge time":     "$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"p too big":     "$argon2id$v=19$m=64,t=1,p=300$" + parts[4] + "$" + parts[5],
		"bad salt":      "$argon2id$v=19$m=64,t=1,p=1$!!!$" + parts[5],
		"short key":     "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$AAAA",
		"padded base64": good + "=",
		"extra field":   good + "$x",
	} {
		if _, err := VerifyPassword(h, "pw"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: VerifyPassword(%q) err = %v, want ErrMalformedHash", name, h, err)
		}
		if err := CheckHash(h); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: CheckHash(%q) err = %v, want ErrMalformedHash", name, h, err)
		}
	}
}

// TestVerifyPasswordForeignParams checks that a hash made with other cost
// parameters verifies, since the parameters travel with the hash and an
// operator may raise the cost later.
func TestVerifyPasswordForeignParams(t *testing.T) {
	p := HashParams{Memory: 128, Time: 3, Threads: 2, SaltLen: 8, KeyLen: 16}
	h, err := HashPasswordWith("other", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=128,t=3,p=2$") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := VerifyPassword(h, "other"); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
}

func BenchmarkVerifyPasswordDefault(b *testing.B) {
	h, _ := HashPassword("benchmark")
	for b.Loop() {
		_, _ = VerifyPassword(h, "benchmark")
	}
}

func FuzzVerifyPassword(f *testing.F) {
	good, _ := HashPasswordWith("pw", cheapParams)
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Add("$$$$$", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		// Keep the fuzzer from spending minutes in one legitimately
		// expensive (but in-bounds) derivation.
		p, _, _, err := parseHash(hash)
		if err == nil && uint64(p.Memory)*uint64(p.Time) > 1<<16 {
			return
		}
		ok, err := VerifyPassword(hash, pw)
		if err != nil && ok {
			t.Fatal("VerifyPassword returned true with an error")
		}
	})
}
