package tlsconfig

import (
	"errors"
	"testing"
)

// FuzzParse gives Parse arbitrary option values: it never panics, fails
// only with ErrBadOption, and what it accepts has a supported minimum
// protocol version.
func FuzzParse(f *testing.F) {
	f.Add("true", "TLSv1.2,TLSv1.3", "PEM", "c.pem", "k.pem")
	f.Add("false", "TLSv1.3", "pkcs12", "", "")
	f.Add("maybe", "SSLv3", "BKS", "c", "")
	f.Fuzz(func(t *testing.T, enabled, protocols, storeType, cert, key string) {
		s, err := Parse(map[string]string{"sslEnabled": enabled, "enabledProtocols": protocols,
			"keyStoreType": storeType, "certPath": cert, "keyPath": key, "verifyHost": enabled})
		if err != nil {
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("Parse failed with %v, which does not wrap ErrBadOption", err)
			}
			return
		}
		if s.MinVersion != 0x0303 && s.MinVersion != 0x0304 {
			t.Fatalf("accepted minimum version %#x", s.MinVersion)
		}
	})
}
